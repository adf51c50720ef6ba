//! A household's epidemic-control status (管控状态), which colours the compound map.

use super::labelled_enum::labelled_enum;

labelled_enum!(
    /// 管控状态. The map colours: red = confirmed, pink = central quarantine, brown = home
    /// quarantine.
    ControlStatus, "control status" {
        /// 正常.
        Normal => ("normal", "正常", "Normal"),
        /// 居家监测.
        HomeMonitoring => ("home_monitoring", "居家监测", "Home monitoring"),
        /// 居家隔离.
        HomeQuarantine => ("home_quarantine", "居家隔离", "Home quarantine"),
        /// 集中隔离.
        CentralQuarantine => ("central_quarantine", "集中隔离", "Central quarantine"),
        /// 确诊.
        Confirmed => ("confirmed", "确诊", "Confirmed"),
    }
);

// The labelled_enum macro does not derive Default, so it is written out here.
#[allow(clippy::derivable_impls)]
impl Default for ControlStatus {
    fn default() -> Self {
        ControlStatus::Normal
    }
}
