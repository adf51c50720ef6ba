// @ts-check
// Every string the dashboard shows, in Chinese (the default) and English, and the labels of the
// core's enums. The enum labels mirror core/src/schema/{control_status,need_tag,vocabulary}.rs
// exactly, so the page says what the phones and the exports say (roles have no labels in the core;
// theirs are here). The browser tests check that every key the modules use exists in both
// languages and that these labels match the Rust sources.

const STORAGE_KEY = 'doorstep.lang';

// Enum values in the core's order, each with its [Chinese, English] label.
export const LABELS = {
  control_status: {
    normal: ['正常', 'Normal'],
    home_monitoring: ['居家监测', 'Home monitoring'],
    home_quarantine: ['居家隔离', 'Home quarantine'],
    central_quarantine: ['集中隔离', 'Central quarantine'],
    confirmed: ['确诊', 'Confirmed'],
  },
  need_tag: {
    elderly_alone: ['独居老人', 'Elderly living alone'],
    pregnant: ['孕产妇', 'Pregnant'],
    dialysis: ['透析', 'Dialysis'],
    chemotherapy: ['化疗', 'Chemotherapy'],
    chronic_illness: ['慢性病', 'Chronic illness'],
    disabled: ['残疾人', 'Disabled'],
    mobility_impaired: ['行动不便', 'Mobility impaired'],
    deaf_mute: ['聋哑', 'Deaf or mute'],
  },
  task_kind: {
    groceries: ['生活物资', 'Groceries'],
    medicine: ['药品', 'Medicine'],
    meal: ['餐食', 'Meal'],
    garbage: ['垃圾清运', 'Garbage'],
    visit: ['上门服务', 'Door visit'],
    other: ['其他', 'Other'],
  },
  priority: {
    normal: ['普通', 'Normal'],
    high: ['优先', 'High'],
    urgent: ['紧急', 'Urgent'],
  },
  outcome: {
    delivered: ['已送达', 'Delivered'],
    nobody_home: ['无人应答', 'Nobody home'],
    refused: ['拒收', 'Refused'],
    wrong_address: ['地址错误', 'Wrong address'],
  },
  task_status: {
    open: ['待领取', 'Open'],
    assigned: ['已分配', 'Assigned'],
    attempted: ['未送达', 'Attempted'],
    delivered: ['已送达', 'Delivered'],
    cancelled: ['已取消', 'Cancelled'],
  },
  round_status: {
    open: ['进行中', 'Open'],
    closed: ['已结束', 'Closed'],
  },
  channel: {
    phone: ['电话', 'Phone'],
    wechat: ['微信群', 'WeChat'],
    door: ['上门', 'At the door'],
    other: ['其他', 'Other'],
  },
  category: {
    groceries: ['生活物资', 'Groceries'],
    medicine: ['药品', 'Medicine'],
    medical: ['就医', 'Medical care'],
    other: ['其他', 'Other'],
  },
  urgency: {
    normal: ['普通', 'Normal'],
    urgent: ['紧急', 'Urgent'],
    critical: ['危急', 'Critical'],
  },
  request_status: {
    new: ['待处理', 'New'],
    accepted: ['已受理', 'Accepted'],
    done: ['已办结', 'Done'],
    rejected: ['不予受理', 'Rejected'],
  },
  ledger_field: {
    head: ['户主', 'Head of household'],
    phone: ['联系电话', 'Phone'],
    people: ['户内人数', 'People'],
    aged_60_plus: ['60岁以上人数', 'Aged 60+'],
    children_under_6: ['6岁以下儿童人数', 'Children under 6'],
    lift: ['电梯', 'Lift'],
  },
  role: {
    admin: ['区级管理员', 'District admin'],
    coordinator: ['协调员', 'Coordinator'],
    medic: ['片医', 'Area doctor'],
    volunteer: ['志愿者', 'Volunteer'],
  },
};

// Messages: key → [Chinese, English]. `{name}` is replaced by a parameter.
export const MESSAGES = {
  'app.name': ['Doorstep 社区配送', 'Doorstep'],
  'app.tagline': ['协调员工作台', "Coordinators' dashboard"],
  'lang.switch': ['English', '中文'],

  'login.title': ['登录', 'Sign in'],
  'login.token': ['设备令牌', 'Device token'],
  'login.hint': [
    '粘贴协调员手机加入小区时获得的令牌，或区级管理员令牌。',
    "Paste the token a coordinator's phone received when it joined, or the district admin token.",
  ],
  'login.submit': ['登录', 'Sign in'],
  'login.bad_token': ['令牌无效或已被吊销。', 'That token is not valid or has been revoked.'],
  'login.volunteer': [
    '此令牌属于志愿者，不能打开协调员页面。请使用协调员令牌。',
    "This token belongs to a volunteer, who cannot open the coordinators' pages. Use a coordinator's token.",
  ],
  'login.expired': ['登录已过期，请重新登录。', 'Your session has ended; please sign in again.'],
  'login.signed_out': ['已退出。', 'Signed out.'],

  'shell.compound': ['小区', 'Compound'],
  'shell.signed_in_as': ['当前用户：{who}', 'Signed in: {who}'],
  'shell.logout': ['退出', 'Sign out'],
  'shell.nav': ['主菜单', 'Main menu'],
  'shell.no_compound': [
    '此账号没有以协调员身份管理的小区。',
    'This account coordinates no compound.',
  ],

  'nav.overview': ['总览', 'Overview'],
  'nav.map': ['参谋图', 'Map'],
  'nav.roster': ['台账', 'Roster'],
  'nav.rounds': ['配送轮次', 'Rounds'],
  'nav.requests': ['诉求', 'Requests'],
  'nav.conflicts': ['冲突', 'Conflicts'],
  'nav.set_aside': ['待处理搁置', 'Set aside'],
  'nav.sheets': ['表格导入导出', 'Spreadsheets'],
  'nav.members': ['成员', 'Members'],

  'live.on': ['实时更新', 'Live'],
  'live.connecting': ['正在连接…', 'Connecting…'],
  'live.off': ['未连接实时更新', 'Not live'],
  'live.last': ['最近更新 {time}', 'last change {time}'],

  'common.all': ['全部', 'All'],
  'common.save': ['保存', 'Save'],
  'common.cancel': ['取消', 'Cancel'],
  'common.print': ['打印', 'Print'],
  'common.yes': ['有', 'Yes'],
  'common.no': ['无', 'No'],
  'common.none': ['无', 'None'],
  'common.nobody': ['未分配', 'Nobody'],
  'common.actions': ['操作', 'Actions'],
  'common.dismiss': ['关闭', 'Dismiss'],

  'error.prefix': ['出错了', 'Error'],
  'error.network': ['无法连接服务器', 'Cannot reach the server'],
  'toast.saved': ['已保存', 'Saved'],
  'toast.nothing': ['没有改动', 'Nothing changed'],

  'members.title': ['成员与设备', 'Members and devices'],
  'members.invite_title': ['邀请新成员', 'Invite someone'],
  'members.invite_hint': [
    '生成一次性邀请码。对方用手机扫描二维码，或在应用里输入邀请码即可加入。邀请码只显示这一次。',
    'Makes a single-use invite code. The new member scans the QR code with their phone, or types the code in the app. The code is shown only this once.',
  ],
  'members.role': ['角色', 'Role'],
  'members.invite': ['生成邀请码', 'Make an invite'],
  'members.invite_code': ['邀请码', 'Invite code'],
  'members.invite_expires': ['有效期至 {time}，仅可使用一次。', 'Valid until {time}, for one use only.'],
  'members.qr_alt': ['加入小区的二维码', 'QR code to join the compound'],
  'members.link': ['链接', 'Link'],
  'members.name': ['姓名', 'Name'],
  'members.joined': ['加入时间', 'Joined'],
  'members.devices': ['设备（最近同步）', 'Devices (last sync)'],
  'members.never_synced': ['从未同步', 'never synced'],
  'members.device_revoked': ['已停用', 'revoked'],
  'members.wiped_with_unsent': [
    '此手机已于 {time} 自行清除，有 {n} 条工作尚未送达中继，已随之删除：若手机仍在志愿者手中，请让他们重新记录',
    'this phone wiped itself at {time} with {n} pieces of work the relay never got, which went with it: if the phone is still with the volunteer, ask them to record that work again',
    'this phone wiped itself at {time} with {n} piece of work the relay never got, which went with it: if the phone is still with the volunteer, ask them to record that work again',
  ],
  'members.wiped_clean': ['此手机已于 {time} 自行清除，没有未送达的工作', 'this phone wiped itself at {time}; no unsent work went with it'],
  'members.clock_ahead': [
    '手机时钟快了 {span}：请提醒此人校准手机的日期、时间和时区（校准前手机按中继时钟记录时间，但重启后不再如此）',
    "phone's clock {span} ahead: ask them to set the phone's date, time and time zone (till then it dates its work by the relay's clock, but not once it restarts)",
  ],
  'members.clock_behind': [
    '手机时钟慢了 {span}：请提醒此人校准手机的日期、时间和时区（校准前手机按中继时钟记录时间，但重启后不再如此）',
    "phone's clock {span} behind: ask them to set the phone's date, time and time zone (till then it dates its work by the relay's clock, but not once it restarts)",
  ],
  'members.relay_clock_in_doubt': [
    '与中继的时钟相差 {span}，多数手机也相差这么多：可能是中继服务器的时钟有误，不是这台手机的问题；请联系中继的管理员校准服务器时间，不要让志愿者改手机时间',
    "{span} off from the relay's clock, as most phones are: the relay's own clock is probably wrong, not this phone's; ask whoever runs the relay to set the server's time, and do not have volunteers change their phones",
  ],
  'span.days_hours': ['{days} 天 {hours} 小时', '{days} days {hours} h'],
  'span.hours_minutes': ['{hours} 小时 {minutes} 分钟', '{hours} h {minutes} min'],
  'span.minutes': ['{minutes} 分钟', '{minutes} min'],
  'members.none': ['还没有成员。', 'No members yet.'],
  'members.share_refused': [
    '这部手机向{doc}写入的数据超过每日份额，已被拒收 {times} 次（最近 {time}）。若此人并未写这么多，请移出。',
    "This person's phone tried to add more than a day's share to the {doc}: refused {times} times (last {time}). If they did not write that much, remove them.",
  ],
  'members.doc.roster': ['住户台账', 'household roster'],
  'members.doc.round': ['配送轮次', 'delivery round'],
  'members.doc.requests': ['居民诉求', "residents' requests"],
  'members.doc.care': ['健康台账', 'care ledger'],
  'members.revoked_title': ['已移出的成员', 'Removed members'],
  'members.revoke': ['移出', 'Remove'],
  'members.revoke_confirm': [
    '确定将 {name} 移出本小区？其手机下次同步时会清除本小区的全部数据。',
    'Remove {name} from this compound? Their phones wipe all of its data at their next sync.',
  ],
  'members.revoke_yes': ['确认移出', 'Yes, remove'],
  'members.revoked_toast': ['已移出 {name}', '{name} removed'],
  'members.you': ['（本人）', ' (you)'],
  'members.new_token': ['补发设备令牌', 'New device token'],
  'members.device_revoke': ['停用此设备', 'Revoke this phone'],
  'members.device_revoke_confirm': [
    '停用 {name} 的「{device}」？这台手机下次同步时会清除全部数据（含未同步的记录），在它上面发出但还没人用过的邀请码也一并作废；{name} 的其他设备照常使用。',
    "Revoke {name}'s \"{device}\"? That phone wipes everything at its next sync (its changes not yet synced included), and the invite codes made on it that nobody has used yet stop working; {name}'s other phones keep working.",
  ],
  'members.device_revoke_yes': ['确认停用', 'Yes, revoke it'],
  'members.device_revoked_toast': ['已停用「{device}」', '"{device}" revoked'],
  'members.device_name': ['新设备名称', 'New device name'],
  'members.device_default': ['{name}的新手机', "{name}'s new phone"],
  'members.mint': ['生成令牌', 'Make the token'],
  'members.token_title': ['{name} 的新设备令牌', 'New device token for {name}'],
  'members.token_hint': [
    '用新手机扫描二维码登录，或粘贴令牌。令牌只显示这一次，请勿转发他人。',
    'Scan the QR code with the new phone to sign in, or paste the token. It is shown only this once; do not pass it on.',
  ],
  // What the relay's member rules refuse (its own sentences are English, shared with the command line).
  'members.refused.invite': [
    '不能邀请{role}：协调员只能邀请志愿者和医护人员，邀请协调员或管理员须由管理员操作。',
    'You may not invite someone as {role}: coordinators invite volunteers and medics; inviting a coordinator or an admin takes an admin.',
  ],
  'members.refused.bad_role': ['服务器不认识角色「{role}」，请刷新页面后再试。', 'The relay does not know the role "{role}"; reload the page and try again.'],
  'members.refused.revoke': [
    '不能移出 {name}（{role}）：协调员只能移出志愿者和医护人员，移出协调员或管理员须由管理员操作，区管理员只能由区管理员移出，谁也不能移出自己。',
    'You may not remove {name} ({role}): coordinators remove volunteers and medics, removing a coordinator or an admin takes an admin, only a district admin removes a district admin, and nobody removes themselves.',
  ],
  'members.refused.token': ['只有区级管理员可以补发设备令牌。', 'Only a district admin may issue a new device token.'],
  'members.refused.device': ['只有区级管理员可以停用设备。', "Only a district admin may revoke a person's phone."],
  'members.refused.device_gone': ['这台设备已被停用（可能刚被他人停用），列表已更新。', 'That phone was revoked already (perhaps just now, by someone else); the list is up to date again.'],
  'members.refused.device_name': ['设备名称须为 1 至 {max} 个字。', 'The device name must be 1 to {max} characters.'],
  'members.refused.not_running': [
    '你已不再负责{compound}（可能刚被管理员移出），不能邀请或移出成员，页面上的名单也不再更新。如有疑问，请联系本小区的管理员。',
    "You no longer run {compound} (an admin may just have removed you), so you may not invite or remove members, and the list here is no longer kept up to date. If this is a mistake, ask the compound's admin.",
  ],
  'members.refused.gone': [
    '{name} 已不是本小区的成员（可能刚被他人移出），列表已更新。',
    '{name} is no longer a member of this compound (someone may just have removed them); the list is up to date again.',
  ],

  'zone.title': ['小区时区', "The compound's time zone"],
  'zone.hint': [
    '派送单、导出表格、志愿者手机和本页面都按此时区显示时间。中国大陆为 UTC+8，无夏令时。',
    "Delivery sheets, exports, volunteers' phones and this page all show times in this zone. Mainland China is UTC+8, with no daylight saving.",
  ],
  'zone.offset': ['与协调世界时的时差', 'Offset from UTC'],
  'zone.china': ['{label}（中国标准时间）', '{label} (China Standard Time)'],
  'zone.saved': ['时区已设为 {label}', 'Time zone set to {label}'],

  'overview.title': ['{name} 总览', '{name}: overview'],
  'overview.by_status': ['管控状态', 'Control status'],
  'overview.empty': ['这个小区还没有住户台账：请先到「表格导入导出」导入台账（CSV 或 Excel），再安排配送轮次。', 'This compound has no household roster yet: import one under Spreadsheets (CSV or Excel) first, then plan rounds.'],
  'overview.by_need': ['重点人群', 'Special needs'],
  'overview.tasks': ['进行中轮次的任务', 'Tasks of open rounds'],
  'overview.requests_waiting': ['待处理诉求 {n} 件', 'Requests waiting: {n}'],
  'overview.conflicts': ['待核实冲突 {n} 件', 'Conflicts to review: {n}'],
  'overview.set_aside_waiting': ['待处理搁置 {n} 件', 'Set-aside items waiting: {n}'],
  'overview.late_attempts': ['已结束轮次的迟到记录 {n} 条', 'Late attempts on closed rounds: {n}'],
  'overview.open_rounds': ['进行中的配送轮次', 'Open rounds'],
  'overview.no_rounds': ['暂无进行中的轮次。', 'No open rounds.'],

  'counts.households': ['户数', 'Households'],
  'counts.people': ['人数', 'People'],
  'counts.aged_60_plus': ['60岁以上', 'Aged 60+'],
  'counts.children_under_6': ['6岁以下儿童', 'Children under 6'],
  'counts.special_needs': ['重点人群户', 'Special-needs households'],

  'colour.red': ['确诊', 'Confirmed'],
  'colour.pink': ['集中隔离', 'Central quarantine'],
  'colour.brown': ['居家隔离', 'Home quarantine'],
  'colour.yellow': ['居家监测', 'Home monitoring'],
  'colour.green': ['行动不便', 'Mobility impaired'],
  'colour.none': ['无标记', 'Unmarked'],
  'colour.mark.red': ['确', 'C'],
  'colour.mark.pink': ['集', 'Q'],
  'colour.mark.brown': ['隔', 'H'],
  'colour.mark.yellow': ['监', 'W'],
  'colour.mark.green': ['行', 'M'],
  'colour.mark.none': ['·', '·'],

  'map.title': ['{name} 参谋图', '{name}: compound map'],
  'map.legend': ['图例', 'Legend'],
  'map.estate': ['小区', 'Estate'],
  'map.highlight': ['突出显示', 'Highlight'],
  'map.highlight_none': ['不突出', 'Nothing'],
  'map.floor': ['楼层', 'Floor'],
  'map.summary': ['{buildings} 栋楼，{flats} 户', '{buildings} buildings, {flats} flats'],
  'map.legend_fill': ['底色（管控状态）', 'Fill (control status)'],
  'map.legend_needs': ['角标（重点人群）', 'Marks (special needs)'],
  'map.legend_doors': ['送达情况', 'Deliveries'],
  'round.on_map': ['在参谋图上看送达', 'Deliveries on the map'],
  'map.round': ['显示轮次送达情况', 'Show a round’s deliveries'],
  'map.round_none': ['不显示', 'None'],
  'map.round_progress': [
    '「{title}」共 {doors} 户：已送达 {delivered}，敲门未送达 {attempted}，待送 {pending}',
    '“{title}”: {doors} doors — {delivered} delivered, {attempted} attempted, {pending} to go',
  ],
  'map.round_not_drawn': [
    '；另有 {n} 户已从名册移除，图上未画出（见轮次页）',
    '; {n} more removed from the roster, not drawn (see the round page)',
  ],
  'map.door.delivered': ['已送达', 'Delivered'],
  'map.door.attempted': ['敲门未送达（无人应答、拒收等）', 'Attempted (nobody home, refused …)'],
  'map.door.attempted_short': ['敲门未送达', 'Attempted'],
  'map.door.attempted_why': ['敲门未送达：{why}', 'Attempted: {why}'],
  'map.door.pending': ['待送', 'To go'],
  'map.door.outside': ['不在本轮', 'Not in this round'],
  'map.door.mark.delivered': ['✓', '✓'],
  'map.door.mark.attempted': ['!', '!'],
  'map.door.mark.pending': ['○', '○'],
  'map.scroll_cue': ['← 左右滑动查看整栋楼 →', '← Swipe sideways to see the whole building →'],
  'map.summary_highlight': [
    '{buildings} 栋楼，{flats} 户，其中符合条件 {hits} 户',
    '{buildings} buildings, {flats} flats, {hits} highlighted',
  ],

  'address.full': ['{estate} {building}号楼{unit}单元{flat}', '{estate} Bldg {building}, unit {unit}, {flat}'],
  'address.no_unit': ['{estate} {building}号楼{flat}', '{estate} Bldg {building}, {flat}'],
  'address.building': ['{estate} {building}号楼', '{estate} Bldg {building}'],
  'address.unit': ['{unit}单元', 'Unit {unit}'],

  'roster.title': ['住户台账', 'Household roster'],
  'roster.search': ['搜索', 'Search'],
  'roster.search_hint': ['姓名、电话或地址', 'Name, phone or address'],
  'roster.building': ['楼栋', 'Building'],
  'roster.status': ['管控状态', 'Control status'],
  'roster.need': ['重点人群', 'Special need'],
  'roster.any_need': ['任一重点人群', 'Any special need'],
  'roster.clear': ['清除筛选', 'Clear filters'],
  'roster.count': ['显示 {n} 户（共 {total} 户）', '{n} of {total} households'],
  'roster.none': ['没有符合条件的住户。', 'No household matches.'],

  'household.address': ['地址', 'Address'],
  'household.removed': ['已从名册移除', 'Removed from the roster'],
  'household.removed_at': [
    '此户已于 {at} 从名册移除。下面是它移除前的样子，以及仍指向它的任务和求助。',
    'This household was removed from the roster on {at}. It is shown as it last stood, with the tasks and requests that still name it.',
  ],
  'household.head': ['户主', 'Head of household'],
  'household.phone': ['联系电话', 'Phone'],
  'household.people': ['户内人数', 'People'],
  'household.people_unknown': ['未填', 'Not filled in'],
  'household.aged_60_plus': ['60岁以上人数', 'Aged 60+'],
  'household.children_under_6': ['6岁以下儿童', 'Children under 6'],
  'household.needs': ['重点人群', 'Special needs'],
  'household.status': ['管控状态', 'Control status'],
  'household.lift': ['有电梯', 'Lift'],
  'household.notes': ['备注', 'Notes'],
  'household.ledger': ['台账信息', 'Ledger'],
  'household.edit': ['修改台账', 'Edit the ledger'],
  'household.back': ['返回台账', 'Back to the roster'],
  'household.tasks': ['配送任务', 'Tasks'],
  'household.requests': ['诉求', 'Requests'],
  'household.add_task': ['添加任务', 'Add a task'],
  'household.add_request': ['登记诉求', 'Take down a request'],
  'household.no_open_rounds': ['没有进行中的轮次。', 'No open round.'],
  'household.bad_number': ['{what} 须为非负整数', '{what} must be a whole number, 0 or more'],
  'household.history': ['修改记录', 'History'],

  'history.show': ['修改记录', 'History'],
  'history.created': ['新建', 'created'],
  'history.deleted': ['删除', 'deleted'],
  'history.cancelled': ['取消', 'cancelled'],
  'history.none': ['没有记录。', 'No changes recorded.'],
  'history.unknown': ['未知设备', 'unknown device'],
  'time.unknown': ['时间不明（设备时钟有误）', 'time unknown (the device clock was wrong)'],

  'task.kind': ['类别', 'Kind'],
  'task.items': ['物品', 'Items'],
  'task.priority': ['优先级', 'Priority'],
  'task.status': ['状态', 'Status'],
  'task.assignee': ['负责人', 'Assignee'],
  'task.assignee_removed': ['已移出', 'removed'],
  'task.assignee_removed_hint': ['负责人已被移出本小区，请改派', 'The assignee was removed from the compound; reassign the task'],
  'task.attempts': ['上门记录', 'Attempts'],
  'task.cancel': ['取消任务', 'Cancel task'],
  'task.cancel_reason': ['取消原因', 'Reason'],
  'task.cancel_confirm': ['确认取消', 'Cancel it'],
  'task.recorded_by': ['由{who}于{at}从搁置项代录', 'recorded for them by {who} at {at}, from the set-aside inbox'],
  'task.cancelled_by': ['{who} 已取消：{reason}', 'Cancelled by {who}: {reason}'],
  'task.request_tag': ['诉求', 'request'],
  'task.from_request': ['由居民诉求生成', 'Made from a request'],

  'rounds.title': ['配送轮次', 'Delivery rounds'],
  'rounds.all': ['全部轮次', 'All rounds'],
  'rounds.none': ['还没有轮次。', 'No rounds yet.'],
  'rounds.no_tasks': ['此轮次没有任务。', 'This round has no tasks.'],

  'round.round': ['轮次', 'Round'],
  'round.create': ['新建轮次', 'New round'],
  'round.created': ['轮次已创建', 'Round created'],
  'round.title_field': ['名称', 'Title'],
  'round.title_hint': ['如：蔬菜包 第3轮', 'e.g. Vegetable bags, round 3'],
  'round.items_hint': ['如：蔬菜包1份', 'e.g. 1 vegetable bag'],
  'round.date': ['日期', 'Date'],
  'round.status': ['状态', 'Status'],
  'round.progress': ['进度', 'Progress'],
  'round.delivered_of': ['已送达 {delivered}/{total}（{pct}%）', '{delivered} of {total} delivered ({pct}%)'],
  'round.breakdown': [
    '待上门 {open}（已分配 {assigned}），未送达 {attempted}，已取消 {cancelled}',
    '{open} not visited yet ({assigned} assigned), {attempted} attempted, {cancelled} cancelled',
  ],
  'round.to_reassign': ['待改派 {n}', '{n} to reassign'],
  'task.to_reassign': ['待改派', 'To reassign'],
  'task.to_reassign_hint': [
    '负责人已被移出本小区，没有人会上门，志愿者也无法领取：请在轮次页按楼栋分配或逐户改派',
    'Assigned to someone removed from the compound: nobody will go and no volunteer can claim them. Reassign them on the round page, by building or door by door',
  ],
  'round.will_create': ['将为 {n} 户各创建一个任务', 'Creates one task for each of {n} households', 'Creates one task for {n} household'],
  'round.close': ['结束轮次', 'Close round'],
  'round.close_question': ['结束后志愿者不能再记录此轮次。确定吗？', 'Volunteers can no longer record attempts once it is closed. Sure?'],
  'round.close_confirm': ['确定结束', 'Close it'],
  'round.closed': ['轮次已结束', 'Round closed'],
  'round.assign_building': ['按楼栋分配', 'Assign a building'],
  'round.volunteer': ['志愿者', 'Volunteer'],
  'round.assign': ['分配', 'Assign'],
  'round.print_sheet': ['打印派送单', 'Print delivery sheet'],
  'round.double_deliveries': ['重复送达 {n} 件', 'Double deliveries: {n}'],
  'round.cancelled_but_delivered': ['已取消仍送达 {n} 件', 'Delivered after cancel: {n}'],
  'overview.cancelled_but_delivered': ['已取消仍送达的任务 {n} 件', 'Tasks delivered after they were cancelled: {n}'],
  'task.knock_waiting': ['有上门记录待处理 {n} 条', 'Knock waiting in the set-aside inbox: {n}'],
  'task.knock_waiting_hint': [
    '这户的上门记录被中继退回，在“待处理搁置”里等协调员采用或驳回；采用前不计入送达',
    'A knock here was refused by the relay and waits in the set-aside inbox for a coordinator to apply or dismiss; it does not count until applied',
  ],
  'round.late': ['迟到 {n} 条', 'Late: {n}'],
  'round.late_hint': ['结束后才同步到的上门记录（结束前已上门）', 'Attempts made before the close that arrived after it'],
  'round.reopen': ['重新开启', 'Reopen round'],
  'round.reopened': ['轮次已重新开启', 'Round reopened'],
  'round.export_csv': ['导出结果 CSV', 'Results as CSV'],
  'round.export_xlsx': ['导出结果 Excel', 'Results as Excel'],

  'selection.by': ['范围', 'Who gets a task'],
  'selection.all': ['全部住户', 'Every household'],
  'selection.building': ['楼栋', 'Building'],
  'selection.status': ['按管控状态', 'By control status'],
  'selection.need': ['按重点人群', 'By special need'],

  'requests.title': ['居民诉求', "Residents' requests"],
  'requests.show': ['显示', 'Show'],
  'requests.waiting': ['待办（待处理、已受理）', 'Waiting (new, accepted)'],
  'requests.count': ['显示 {n} 件（共 {total} 件）', '{n} of {total} requests'],
  'requests.none': ['没有诉求。', 'No requests.'],

  'request.channel': ['来源', 'Channel'],
  'request.category': ['类别', 'Category'],
  'request.urgency': ['紧急程度', 'Urgency'],
  'request.status': ['处理状态', 'Status'],
  'request.text': ['内容', 'What they ask for'],
  'request.meta': ['{channel} · {by} 登记于 {at}', '{channel} · taken by {by} at {at}'],
  'request.linked': ['关联任务：', 'Tasks:'],
  'request.handle': ['处理', 'Handle'],
  'request.triage': ['更新', 'Update'],
  'request.to_task': ['转为任务', 'Make a task'],
  'request.task_added': ['已转为任务', 'Task added'],

  'set_aside.made_after_removal': [
    '{who} 已于 {at} 被移出本小区，这一项是在那之后（按手机时钟）做的：可能来自丢失的手机。请先和本人核实再应用。',
    '{who} was removed from this compound on {at}, and this was made after that (by the phone\'s clock): it may come from a lost phone. Check with them before applying it.',
  ],
  'set_aside.made_before_removal': [
    '{who} 已于 {at} 被移出本小区；这一项是在那之前做的（按手机时钟，手机可能有误）。',
    '{who} was removed from this compound on {at}; this was made before that (by the phone\'s clock, which the phone may get wrong).',
  ],
  'set_aside.title': ['志愿者手机上被搁置的操作', "Set aside on volunteers' phones"],
  'set_aside.hint': [
    '中继拒收的操作（不是网络问题）会在志愿者手机上搁置，并在同步时送到这里。采用：以您本人的身份重新执行该操作；驳回：写明原因，志愿者下次同步后可见。',
    'Operations the relay refused for good (not a network problem) are set aside on the volunteer\'s phone and sent here when it syncs. Apply: carry it out again as your own operation. Dismiss: give a reason; the volunteer sees it after their next sync.',
  ],
  'set_aside.none': ['没有待处理的搁置操作。', 'Nothing set aside waits for you.'],
  'set_aside.decided_title': ['已处理', 'Decided'],
  'set_aside.who_when': ['{who} · 操作时间 {at}', '{who} · made at {at}'],
  'set_aside.what': ['操作：{op}', 'Operation: {op}'],
  'set_aside.what_unknown': ['手机未记录具体操作', 'The phone did not record the operation'],
  'set_aside.why': ['拒收原因：{rule}', 'Refused: {rule}'],
  'set_aside.relay_said': ['中继的原话', "The relay's own words"],
  'set_aside.knock': ['上门记录：{outcome}{note}', 'Knock: {outcome}{note}'],
  'set_aside.operation': ['操作内容', 'The operation'],
  'set_aside.phone_says': ['手机上的说明：{summary}', 'The phone says: {summary}'],
  'set_aside.beyond_role': [
    '注意：{who}（{role}）本人无权执行此操作；采用后将以你的名义生效，请先核实。',
    'Note: {who} ({role}) may not make this change themselves; applying it makes it yours. Check it first.',
  ],
  'set_aside.apply': ['以我的身份采用', 'Apply as my own'],
  'set_aside.apply_after_check': ['核实操作内容后采用…', 'Check the operation, then apply…'],
  'set_aside.apply_checked': [
    '已核实上面的操作，以我的身份采用',
    'I have checked the operation above: apply it as my own',
  ],
  'set_aside.nothing_to_apply': ['无法采用：请驳回并联系志愿者', 'Nothing to apply: dismiss it and ask the volunteer'],
  'set_aside.dismiss': ['驳回', 'Dismiss'],
  'set_aside.dismiss_reason': ['驳回原因（志愿者可见）', 'Reason (the volunteer sees it)'],
  'set_aside.dismiss_hint': ['已电话核实，无需修改', 'Checked by phone; no change needed'],
  'set_aside.dismiss_confirm': ['确认驳回', 'Confirm dismissal'],
  'set_aside.reason_required': ['请填写驳回原因', 'Give a reason for dismissing it'],
  'set_aside.applied_toast': ['已采用；各手机同步后可见', 'Applied; every phone sees it after its next sync'],
  'set_aside.dismissed_toast': ['已驳回；志愿者同步后可见原因', 'Dismissed; the volunteer sees the reason after their next sync'],
  'set_aside.applied_by': ['{who} 于 {at} 采用', 'Applied by {who} at {at}'],
  'set_aside.dismissed_by': ['{who} 于 {at} 驳回：{reason}', 'Dismissed by {who} at {at}: {reason}'],
  'conflicts.title': ['待核实的冲突', 'Conflicts to review'],
  'conflicts.hint': [
    '离线的手机同步后可能出现冲突。所有记录都已保留；请核实后写入正确的值。',
    'Phones that worked offline can disagree. Every record is kept; check, then write the right value.',
  ],
  'conflicts.none': ['没有冲突。', 'No conflicts.'],
  'conflicts.round_closed': ['轮次已结束', 'Round closed'],
  'conflicts.round_closed_hint': [
    '结束轮次不会了结冲突：结束前未核实的、结束后才同步到的重复送达都列在这里，仍可标记为已核实',
    'Closing a round settles none of its conflicts: those left unreviewed, and double deliveries that synced in after the close, are listed here and can still be marked reviewed',
  ],
  'conflicts.kind.double_delivery': ['重复送达', 'Double delivery'],
  'conflicts.kind.competing_assignment': ['分配冲突', 'Competing assignment'],
  'conflicts.kind.concurrent_status': ['管控状态冲突', 'Concurrent status edits'],
  'conflicts.kind.cancelled_but_delivered': ['已取消仍送达', 'Delivered after it was cancelled'],
  'conflicts.kind.concurrent_ledger_edit': ['台账同时修改', 'Concurrent ledger edits'],
  'conflicts.kind.concurrent_triage': ['诉求处理冲突', 'Concurrent triage'],
  'conflicts.ledger_text': ['{field}被同时改为 {all}；目前显示为 {winner}。', '{field} set at once to {all}; everyone sees {winner} now.'],
  'conflicts.keep_value': ['改为 {value}', 'Set {value}'],
  'conflicts.lift_yes': ['有电梯', 'Has a lift'],
  'conflicts.lift_no': ['无电梯', 'No lift'],
  'conflicts.value_unknown': ['未填', 'Unknown'],
  'conflicts.triage_text': ['此诉求被同时处理为 {statuses}（紧急程度 {urgencies}）；目前显示为 {winner}。', 'This request was triaged at once as {statuses} (urgency {urgencies}); everyone sees {winner} now.'],
  'conflicts.cancelled_text': ['{who} 于 {at} 取消了此任务（{reason}），但志愿者离线时并不知道，仍送达了：', '{who} cancelled this task at {at} ({reason}), but a volunteer, offline and unaware, delivered it:'],
  'conflicts.cancelled_hint': [
    '物品已送到门口，任务计为已送达；请联系住户或家属处理（取回或留用）。',
    'The goods are at the door, so the task counts as delivered; contact the household or family (take back or leave).',
  ],
  'conflicts.earlier_review': ['此前 {who} 于 {at} 核实过（之后有新情况）', 'Reviewed earlier by {who} at {at}, before something new arrived'],
  'conflicts.double_delivery_text': ['此任务被记录送达 {n} 次：', 'This task was recorded as delivered {n} times:'],
  'conflicts.double_delivery_hint': [
    '两次送达都已保留。请与志愿者核实是否多送了一份。',
    'Both deliveries are kept. Check with the volunteers whether the door got two.',
  ],
  'conflicts.competing_text': ['同时被分配给不同的人；目前显示为 {winner}。', 'Assigned to different people at once; everyone sees {winner} now.'],
  'conflicts.keep_assignee': ['分配给 {who}', 'Assign to {who}'],
  'conflicts.status_text': ['被同时改为 {all}；目前显示为 {winner}。', 'Set at once to {all}; everyone sees {winner} now.'],
  'conflicts.keep_status': ['设为 {status}', 'Set {status}'],
  'conflicts.resolved': ['已写入，冲突将消失', 'Written; the conflict is settled'],
  'conflicts.review': ['标记为已核实', 'Mark reviewed'],
  'conflicts.review_note': ['核实说明（可不填）', 'Note (optional)'],
  'conflicts.review_note_hint': ['已核实，第二份转给 2-1-302', 'Checked; the second bag went to 2-1-302'],
  'conflicts.review_confirm': ['确认已核实', 'Confirm reviewed'],
  'conflicts.reviewed_toast': ['已标记为已核实；各手机同步后可见', 'Marked reviewed; every phone sees it after its next sync'],
  'conflicts.reviewed_title': ['已处理', 'Reviewed'],
  'conflicts.reviewed_hint': [
    '已由协调员核实的冲突。若之后又有新的送达记录同步上来，该冲突会重新出现在上方待核实列表中。',
    'Conflicts a coordinator has reviewed. If a new record syncs in later (a third delivery), the conflict moves back up to be reviewed again.',
  ],
  'conflicts.reviewed_by': ['{who} 于 {at} 核实', 'Reviewed by {who} at {at}'],

  'sheets.title': ['表格导入导出', 'Spreadsheets'],
  'import.title': ['导入台账', 'Import a roster'],
  'import.hint': [
    'CSV（UTF-8 或 GB18030）或 XLSX，中文表头。先预览：有错误的行会列出来，确认前不会写入任何数据。XLSX 中每个可见的、有 楼号、房号、户主 表头的工作表都会读取（如每栋楼一个工作表），隐藏的工作表不读，预览会列出读了哪些、没读哪些及原因；隐藏的行（或被筛选隐去的行）照常读取，预览会提醒是哪几行，不该导入的请删去。空白单元格（重点人群除外）不会清除已有内容（志愿者写的备注也保留）；要清除请在住户页面修改。从这里导出的表带“导出版本”一列：再导入时，表中未改动的单元格不会覆盖导出后在手机或网页上做的修改。每人一行的人员台账（有 与户主关系 或 年龄 列）也可以导入：同一房号的各行合为一户，户主取 与户主关系 为“户主/本人”的一行，户内人数、60岁以上人数、6岁以下儿童按列出的人和年龄计算。',
    'CSV (UTF-8 or GB18030) or XLSX with Chinese headers. Preview first: rows with errors are listed, and nothing is written until you confirm. In an XLSX every visible sheet with a 楼号, 房号, 户主 header row is read (one sheet per building, say); hidden sheets are not, and the preview lists the sheets read and those not read, with why; hidden (or filtered-out) rows are read all the same, and the preview names them: delete those that should not be imported. A blank cell (but 重点人群) clears nothing the roster holds (volunteers\' notes stay); clear a value on the household\'s page. A roster exported here carries an 导出版本 (export version) column: imported again, a cell you did not change does not overwrite what was changed on a phone or the dashboard since the export. A ledger of one row per resident (with a 与户主关系 or 年龄 column) imports too: a flat\'s rows make one household, headed by the row whose 与户主关系 is 户主 or 本人, with 户内人数, 60+ and under-6 counted from the people listed and their ages.',
  ],
  'import.file': ['表格文件', 'Spreadsheet file'],
  'import.choose': ['请先选择文件', 'Choose a file first'],
  'import.too_large': ['文件为 {size}，大于中继接受的上限（{limit}）；请按小区拆分后分别导入', 'The file is {size}, larger than the relay accepts ({limit}); split it by estate (小区)'],
  'import.preview': ['预览', 'Preview'],
  'import.preview_title': ['预览：{name}', 'Preview: {name}'],
  'import.households': ['可导入 {n} 户', '{n} households can be imported', '{n} household can be imported'],
  'import.estates': ['小区：{list}', 'Estates: {list}'],
  'import.sheets_read': ['读取了 {n} 个工作表：{list}（每个可见的、有 楼号、房号、户主 表头的工作表都会读取）', 'Read {n} sheets: {list} (every visible sheet with a 楼号, 房号, 户主 header row is read)', 'Read {n} sheet: {list} (every visible sheet with a 楼号, 房号, 户主 header row is read)'],
  'import.sheet_households': ['“{sheet}” {n} 户', '"{sheet}" {n} households', '"{sheet}" {n} household'],
  'import.sheet_skipped': ['未读工作表“{sheet}”：{reason}', 'Sheet "{sheet}" not read: {reason}'],
  'import.sheet_row': ['{sheet} 第 {line} 行', '{sheet}, row {line}'],
  'import.ignored': ['未识别的列（将被忽略）：{list}', 'Columns not recognised (ignored): {list}'],
  'import.plan': ['确认后将新增 {add} 户，更新 {update} 户，{unchanged} 户没有变化。', 'On import: {add} added, {update} updated, {unchanged} unchanged.'],
  'import.plan_changes': ['将更新 {n} 户：{list}', '{n} households will change: {list}', '{n} household will change: {list}'],
  'import.plan_change': ['{column} {n} 户', '{column} on {n}'],
  'import.plan_kept': [
    '表格里没有的列、以及空着的格子（备注、重点人群除外）不会改动已有住户的内容。',
    'Columns the file does not have, and empty cells (except 备注 and 重点人群, where empty means none), leave existing households as they are.',
  ],
  'import.plan_no_estate': ['表格没有写小区：{n} 户按楼号、单元、房号对上了已有住户。', 'No 小区 in the file: {n} rows matched existing households by building, unit and flat.', 'No 小区 in the file: {n} row matched an existing household by building, unit and flat.'],
  'import.plan_estate_for_new': ['没有写小区的新住户将归入 {estate}。', 'New households without a 小区 go into {estate}.'],
  'import.no_errors': ['没有发现错误。', 'No errors found.'],
  'import.omitted': ['另有 {n} 行错误未列出', '{n} more rows with errors are not listed'],
  'import.errors': ['{n} 行有错误', '{n} rows have errors', '{n} row has errors'],
  'import.warnings': ['{n} 条提醒（不影响导入，请导入后补填或核对）', '{n} warnings (they do not block the import; fill in or check afterwards)', '{n} warning (it does not block the import; fill in or check afterwards)'],
  'import.omitted_warnings': ['另有 {n} 条提醒未列出', '{n} more warnings are not listed'],
  'import.line': ['行号', 'Line'],
  'import.column': ['列', 'Column'],
  'import.value': ['内容', 'Value'],
  'import.reason': ['原因', 'Reason'],
  'import.blocked': [
    '{n} 行有错误：修改表格后重新预览，或只导入无误的行。',
    '{n} rows have errors: fix the spreadsheet and preview again, or import only the good rows.',
    '{n} row has errors: fix the spreadsheet and preview again, or import only the good rows.',
  ],
  'import.commit': ['确认导入 {n} 户', 'Import {n} households', 'Import {n} household'],
  'import.commit_good': ['只导入无误的 {n} 户（跳过 {bad} 行）', 'Import the {n} good rows only (leave out {bad})', 'Import the {n} good row only (leave out {bad})'],
  'import.done': ['导入完成：新增 {added} 户，更新 {updated} 户，{unchanged} 户没有变化，跳过 {left} 行。', 'Imported: {added} added, {updated} updated, {unchanged} unchanged, {left} rows left out.'],
  'import.done_short': ['导入完成', 'Imported'],
  'import.refused': ['未导入：表格有错误。', 'Nothing imported: the spreadsheet has errors.'],

  'export.title': ['导出', 'Export'],
  'export.roster': ['住户台账', 'Household roster'],
  'export.special': ['重点人群台账', 'Special-needs ledger'],
  'export.round': ['轮次结果', "A round's results"],
  'export.csv': ['CSV', 'CSV'],
  'export.xlsx': ['Excel (XLSX)', 'Excel (XLSX)'],

  'print.title': ['打印派送单', 'Print delivery sheets'],
  'print.hint': ['每栋楼一张，按单元、楼层排好，供志愿者带上楼。', 'One sheet per building, in climbing order, for volunteers to carry.'],
  'print.open': ['打开派送单', 'Open the sheet'],
};

export function lang() {
  try {
    return localStorage.getItem(STORAGE_KEY) === 'en' ? 'en' : 'zh';
  } catch (_) {
    return 'zh';
  }
}

export function setLang(value) {
  try {
    localStorage.setItem(STORAGE_KEY, value === 'en' ? 'en' : 'zh');
  } catch (_) {
    // Private mode without storage: the switch lasts until the page closes.
  }
}

export function t(key, params) {
  const pair = MESSAGES[key];
  // A message counting something may have a third form: its English for a count of one.
  const one = params && Number(params.n) === 1 && pair && pair[2];
  let text = pair ? (lang() === 'en' ? one || pair[1] : pair[0]) : key;
  if (params) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  return text;
}

export function label(kind, value) {
  const pair = LABELS[kind] && LABELS[kind][value];
  return pair ? pair[lang() === 'en' ? 1 : 0] : String(value ?? '');
}

/** The enum's values, in the core's order. */
export function values(kind) {
  return Object.keys(LABELS[kind] || {});
}

/** The page's `lang` attribute. */
export function htmlLang() {
  return lang() === 'en' ? 'en' : 'zh-CN';
}
