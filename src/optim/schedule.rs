//! Learning-rate schedules: linear warm-up, then constant, linear or cosine decay.
use serde::{Deserialize, Serialize};

/// The decay after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleKind {
    Constant,
    Linear,
    Cosine,
}

/// lr(step): 0 → peak over `warmup` steps, then decays to `min_lr` at `total` steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub peak_lr: f32,
    pub min_lr: f32,
    pub warmup: u32,
    pub total: u32,
    pub kind: ScheduleKind,
}

impl Schedule {
    /// The learning rate for 1-based step `step`.
    pub fn lr(&self, step: u32) -> f32 {
        if self.warmup > 0 && step <= self.warmup {
            return self.peak_lr * step as f32 / self.warmup as f32;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f32;
        let t = ((step.saturating_sub(self.warmup)) as f32 / span).clamp(0.0, 1.0);
        let f = match self.kind {
            ScheduleKind::Constant => 1.0,
            ScheduleKind::Linear => 1.0 - t,
            ScheduleKind::Cosine => 0.5 * (1.0 + (std::f32::consts::PI * t).cos()),
        };
        self.min_lr + (self.peak_lr - self.min_lr) * f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn warmup_then_decay() {
        let s = Schedule { peak_lr: 1.0, min_lr: 0.0, warmup: 10, total: 110, kind: ScheduleKind::Linear };
        assert_eq!(s.lr(5), 0.5);
        assert_eq!(s.lr(10), 1.0);
        assert!((s.lr(60) - 0.5).abs() < 1e-6);
        assert_eq!(s.lr(110), 0.0);
        let c = Schedule { kind: ScheduleKind::Cosine, ..s };
        assert!((c.lr(60) - 0.5).abs() < 1e-6);
        assert!(c.lr(200) == 0.0);
    }
}
