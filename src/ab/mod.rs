//! A/B tests, pure logic: the test's seed, routing a request to an arm, and reading the
//! results out of recorded inferences and feedback into the statistics of [`stats`].
//!
//! Routing is deterministic: a request's key (the client's `X-Lab-Key`, else its request id) is
//! hashed with the test's seed and name into a number `u` in [0, 1); `u < split` goes to arm
//! b. A client with a fixed key always sees the same arm, and over many keys the share of b is
//! the split. The arm is recorded with the inference as `NAME/a` or `NAME/b`.

pub mod stats;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::event::{FeedbackRecord, Hash, InferenceRecord};

/// The built-in baseline arm: the `tesseract` binary reading one text line.
pub const TESSERACT: &str = "ocr_tesseract";

/// The metrics a test may name.
pub const METRICS: [&str; 2] = ["accuracy", "latency"];

/// Feedback needed per arm before the accuracy test is trusted.
pub const MIN_FEEDBACK: usize = 30;

/// Requests needed per arm before the latency test is trusted.
pub const MIN_REQUESTS: usize = 20;

/// One of the two arms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Arm {
    A,
    B,
}

impl Arm {
    pub fn letter(self) -> &'static str {
        match self {
            Arm::A => "a",
            Arm::B => "b",
        }
    }
}

/// The recorded arm of test `name`: `NAME/a`.
pub fn arm_label(name: &str, arm: Arm) -> String {
    format!("{name}/{}", arm.letter())
}

/// The seed of test `name` in a project seeded `project_seed`: its own stream, so two tests
/// split the same keys independently.
pub fn test_seed(project_seed: u64, name: &str) -> u64 {
    let h = Hash::of(format!("lab.ab.seed:{project_seed}:{name}").as_bytes());
    u64::from_le_bytes(h.0[..8].try_into().expect("8 bytes"))
}

/// The point in [0, 1) a key lands on for one test.
pub fn route_point(seed: u64, name: &str, key: &str) -> f64 {
    let h = Hash::of(format!("lab.ab.route:{seed}:{name}:{key}").as_bytes());
    let x = u64::from_le_bytes(h.0[..8].try_into().expect("8 bytes"));
    // 53 random bits → a double in [0, 1).
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The arm a request with `key` goes to: b with probability `split` over keys.
pub fn route(seed: u64, name: &str, split: f64, key: &str) -> Arm {
    if route_point(seed, name, key) < split {
        Arm::B
    } else {
        Arm::A
    }
}

/// What the log holds for one arm.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArmData {
    pub requests: usize,
    /// Latency of every request, milliseconds.
    pub latencies_ms: Vec<f64>,
    /// Per request id, the last feedback's correctness.
    pub feedback: BTreeMap<String, bool>,
}

impl ArmData {
    pub fn correct(&self) -> usize {
        self.feedback.values().filter(|c| **c).count()
    }
}

/// Collects the records of test `name` into its two arms.
#[derive(Debug, Default)]
pub struct Collect {
    pub a: ArmData,
    pub b: ArmData,
}

impl Collect {
    fn arm(&mut self, name: &str, label: Option<&str>) -> Option<&mut ArmData> {
        let rest = label?.strip_prefix(name)?.strip_prefix('/')?;
        match rest {
            "a" => Some(&mut self.a),
            "b" => Some(&mut self.b),
            _ => None,
        }
    }

    pub fn inferences(&mut self, name: &str, recs: &[InferenceRecord]) {
        for r in recs {
            if let Some(d) = self.arm(name, r.arm.as_deref()) {
                d.requests += 1;
                d.latencies_ms.push(r.latency_us as f64 / 1e3);
            }
        }
    }

    pub fn feedback(&mut self, name: &str, recs: &[FeedbackRecord]) {
        for r in recs {
            if let Some(d) = self.arm(name, r.arm.as_deref()) {
                d.feedback.insert(r.request_id.clone(), r.correct);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_is_stable_per_key_and_honours_the_split() {
        let seed = test_seed(42, "t");
        assert_eq!(seed, test_seed(42, "t"));
        assert_ne!(seed, test_seed(42, "u"));
        for split in [0.0, 0.2, 0.5, 0.9] {
            let n = 10_000;
            let b = (0..n)
                .filter(|i| route(seed, "t", split, &format!("user-{i}")) == Arm::B)
                .count();
            let share = b as f64 / n as f64;
            assert!((share - split).abs() < 0.02, "split {split}: share {share}");
        }
        assert_eq!(route(seed, "t", 1.0, "anyone"), Arm::B);
        let first = route(seed, "t", 0.5, "fixed");
        assert!((0..10).all(|_| route(seed, "t", 0.5, "fixed") == first));
    }

    #[test]
    fn records_are_collected_per_arm_and_the_last_feedback_counts() {
        let inf = |arm: &str, us| InferenceRecord {
            request_id: "r".into(),
            model: "m".into(),
            version: 1,
            arm: Some(arm.into()),
            time_ms: 0,
            latency_us: us,
            features: BTreeMap::new(),
            confidence: None,
        };
        let fb = |id: &str, arm: &str, correct| FeedbackRecord {
            request_id: id.into(),
            model: "m".into(),
            version: 1,
            arm: Some(arm.into()),
            time_ms: 0,
            prediction: String::new(),
            truth: String::new(),
            correct,
        };
        let mut c = Collect::default();
        c.inferences(
            "t",
            &[
                inf("t/a", 1000),
                inf("t/b", 2000),
                inf("tt/a", 5),
                inf("t/c", 5),
            ],
        );
        c.feedback(
            "t",
            &[
                fb("1", "t/a", false),
                fb("1", "t/a", true),
                fb("2", "t/b", false),
            ],
        );
        assert_eq!((c.a.requests, c.b.requests), (1, 1));
        assert_eq!(c.a.latencies_ms, [1.0]);
        assert_eq!((c.a.correct(), c.a.feedback.len()), (1, 1));
        assert_eq!((c.b.correct(), c.b.feedback.len()), (0, 1));
    }
}
