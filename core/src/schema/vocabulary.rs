//! The smaller closed vocabularies of rounds, tasks and requests.

use super::labelled_enum::labelled_enum;

labelled_enum!(
    /// What a task (or a whole round) carries.
    TaskKind, "task kind" {
        /// 蔬菜包 / groceries.
        Groceries => ("groceries", "生活物资", "Groceries"),
        /// 药品.
        Medicine => ("medicine", "药品", "Medicine"),
        /// 餐食.
        Meal => ("meal", "餐食", "Meal"),
        /// 垃圾清运: taking the garbage down on the way.
        Garbage => ("garbage", "垃圾清运", "Garbage"),
        /// 核酸 or other door visit.
        Visit => ("visit", "上门服务", "Door visit"),
        /// 其他.
        Other => ("other", "其他", "Other"),
    }
);

labelled_enum!(
    /// How soon a task must be done.
    Priority, "priority" {
        /// 普通.
        Normal => ("normal", "普通", "Normal"),
        /// 优先.
        High => ("high", "优先", "High"),
        /// 紧急.
        Urgent => ("urgent", "紧急", "Urgent"),
    }
);

labelled_enum!(
    /// What happened at the door.
    Outcome, "attempt outcome" {
        /// 已送达.
        Delivered => ("delivered", "已送达", "Delivered"),
        /// 无人应答.
        NobodyHome => ("nobody_home", "无人应答", "Nobody home"),
        /// 拒收.
        Refused => ("refused", "拒收", "Refused"),
        /// 地址错误.
        WrongAddress => ("wrong_address", "地址错误", "Wrong address"),
    }
);

labelled_enum!(
    /// A task's status, derived from its attempts, assignee and a coordinator's cancel; never
    /// stored.
    TaskStatus, "task status" {
        /// 待领取: nobody assigned.
        Open => ("open", "待领取", "Open"),
        /// 已分配.
        Assigned => ("assigned", "已分配", "Assigned"),
        /// 未送达: attempted, not yet delivered.
        Attempted => ("attempted", "未送达", "Attempted"),
        /// 已送达.
        Delivered => ("delivered", "已送达", "Delivered"),
        /// 已取消.
        Cancelled => ("cancelled", "已取消", "Cancelled"),
    }
);

labelled_enum!(
    /// Whether a round still takes attempts.
    RoundStatus, "round status" {
        /// 进行中.
        Open => ("open", "进行中", "Open"),
        /// 已结束.
        Closed => ("closed", "已结束", "Closed"),
    }
);

labelled_enum!(
    /// How a request reached us.
    Channel, "request channel" {
        /// 电话.
        Phone => ("phone", "电话", "Phone"),
        /// 微信群.
        WeChat => ("wechat", "微信群", "WeChat"),
        /// 上门.
        Door => ("door", "上门", "At the door"),
        /// 其他.
        Other => ("other", "其他", "Other"),
    }
);

labelled_enum!(
    /// What a request is about.
    Category, "request category" {
        /// 生活物资.
        Groceries => ("groceries", "生活物资", "Groceries"),
        /// 药品.
        Medicine => ("medicine", "药品", "Medicine"),
        /// 就医.
        Medical => ("medical", "就医", "Medical care"),
        /// 其他.
        Other => ("other", "其他", "Other"),
    }
);

labelled_enum!(
    /// How urgent a request is.
    Urgency, "urgency" {
        /// 普通.
        Normal => ("normal", "普通", "Normal"),
        /// 紧急.
        Urgent => ("urgent", "紧急", "Urgent"),
        /// 危急: life at risk.
        Critical => ("critical", "危急", "Critical"),
    }
);

labelled_enum!(
    /// Where a request stands in the coordinators' triage.
    RequestStatus, "request status" {
        /// 待处理.
        New => ("new", "待处理", "New"),
        /// 已受理.
        Accepted => ("accepted", "已受理", "Accepted"),
        /// 已办结.
        Done => ("done", "已办结", "Done"),
        /// 不予受理.
        Rejected => ("rejected", "不予受理", "Rejected"),
    }
);

labelled_enum!(
    /// The four documents of a compound.
    DocKind, "document kind" {
        /// Buildings and households.
        Roster => ("roster", "台账", "Roster"),
        /// One delivery round and its tasks.
        Round => ("round", "配送轮次", "Round"),
        /// Residents' requests.
        Requests => ("requests", "诉求", "Requests"),
        /// The care ledger (coordinators and medics only).
        Care => ("care", "健康档案", "Care ledger"),
    }
);
