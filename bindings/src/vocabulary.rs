//! The closed vocabularies of the schema, exported as they are defined in `doorstep-core`
//! (uniffi "remote" enums: the definitions below must match core's, and the build fails if
//! they drift). Kotlin sees `enum class Outcome { DELIVERED, NOBODY_HOME, ... }`.

use doorstep_core::Role;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::ledger_field::LedgerField;
use doorstep_core::schema::need_tag::NeedTag;
use doorstep_core::schema::vocabulary::{
    Category, Channel, Outcome, Priority, RequestStatus, RoundStatus, TaskKind, TaskStatus, Urgency,
};

/// A person's role in one compound.
#[uniffi::remote(Enum)]
pub enum Role {
    /// District staff.
    Admin,
    /// Runs the compound.
    Coordinator,
    /// Keeps the care ledger.
    Medic,
    /// Carries deliveries.
    Volunteer,
}

/// What a task carries.
#[uniffi::remote(Enum)]
pub enum TaskKind {
    /// 生活物资.
    Groceries,
    /// 药品.
    Medicine,
    /// 餐食.
    Meal,
    /// 垃圾清运.
    Garbage,
    /// 上门服务.
    Visit,
    /// 其他.
    Other,
}

/// How soon a task must be done.
#[uniffi::remote(Enum)]
pub enum Priority {
    /// 普通.
    Normal,
    /// 优先.
    High,
    /// 紧急.
    Urgent,
}

/// What happened at the door.
#[uniffi::remote(Enum)]
pub enum Outcome {
    /// 已送达.
    Delivered,
    /// 无人应答.
    NobodyHome,
    /// 拒收.
    Refused,
    /// 地址错误.
    WrongAddress,
}

/// A task's derived status.
#[uniffi::remote(Enum)]
pub enum TaskStatus {
    /// Nobody assigned.
    Open,
    /// Assigned, not yet attempted.
    Assigned,
    /// Attempted, not delivered.
    Attempted,
    /// Delivered.
    Delivered,
    /// Cancelled by a coordinator.
    Cancelled,
}

/// Whether a round still takes attempts.
#[uniffi::remote(Enum)]
pub enum RoundStatus {
    /// 进行中.
    Open,
    /// 已结束.
    Closed,
}

/// How a request reached the volunteers.
#[uniffi::remote(Enum)]
pub enum Channel {
    /// 电话.
    Phone,
    /// 微信群.
    WeChat,
    /// 上门.
    Door,
    /// 其他.
    Other,
}

/// What a request is about.
#[uniffi::remote(Enum)]
pub enum Category {
    /// 生活物资.
    Groceries,
    /// 药品.
    Medicine,
    /// 就医.
    Medical,
    /// 其他.
    Other,
}

/// How urgent a request is.
#[uniffi::remote(Enum)]
pub enum Urgency {
    /// 普通.
    Normal,
    /// 紧急.
    Urgent,
    /// 危急.
    Critical,
}

/// Where a request stands in triage.
#[uniffi::remote(Enum)]
pub enum RequestStatus {
    /// 待处理.
    New,
    /// 已受理.
    Accepted,
    /// 已办结.
    Done,
    /// 不予受理.
    Rejected,
}

/// 管控状态.
#[uniffi::remote(Enum)]
pub enum ControlStatus {
    /// 正常.
    Normal,
    /// 居家监测.
    HomeMonitoring,
    /// 居家隔离.
    HomeQuarantine,
    /// 集中隔离.
    CentralQuarantine,
    /// 确诊.
    Confirmed,
}

/// A household's single-value ledger field, as a concurrent-edit conflict names it.
#[uniffi::remote(Enum)]
pub enum LedgerField {
    /// 户主.
    Head,
    /// 联系电话.
    Phone,
    /// 户内人数.
    People,
    /// 60岁以上人数.
    Aged60Plus,
    /// 6岁以下儿童人数.
    ChildrenUnder6,
    /// 有无电梯.
    Lift,
}

/// 重点人群.
#[uniffi::remote(Enum)]
pub enum NeedTag {
    /// 独居老人.
    ElderlyAlone,
    /// 孕产妇.
    Pregnant,
    /// 透析.
    Dialysis,
    /// 化疗.
    Chemotherapy,
    /// 慢性病.
    ChronicIllness,
    /// 残疾人.
    Disabled,
    /// 行动不便.
    MobilityImpaired,
    /// 聋哑.
    DeafMute,
}
