//! Cost models: how long a task's kernel takes, by func_id. Policies that
//! plan with durations ([`CriticalPath`](crate::sched::CriticalPath),
//! [`Heft`](crate::sched::Heft)) read a model's estimates (means); the
//! virtual-time backend ([`VirtualTime`](crate::sim::VirtualTime)) draws
//! from it, deterministically for a given seed.
//!
//! ```
//! use hostgraph::cost::{Cost, CostModel};
//!
//! let model = CostModel::new(Cost::Constant(1_000))
//!     .with(1, Cost::Uniform { min: 20_000, max: 40_000 })
//!     .with(2, Cost::per_task(|args| args[0] * 10));
//! assert_eq!(model.estimate(0, &[]), 1_000);
//! assert_eq!(model.estimate(1, &[]), 30_000);
//! assert_eq!(model.estimate(2, &[7]), 70);
//! let mut draws = model.sampler(42);
//! let d = draws.sample(1, &[]);
//! assert!((20_000..=40_000).contains(&d));
//! assert_eq!(model.sampler(42).sample(1, &[]), d, "same seed, same draw");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::profile::Profile;
use crate::seal::Sealed;

/// A duration computed from a task's argument words.
pub type PerTaskFn = Arc<dyn Fn(&[u64]) -> u64 + Send + Sync>;

/// How long one kernel takes, in nanoseconds.
#[derive(Clone)]
pub enum Cost {
    /// Always this long.
    Constant(u64),
    /// Uniformly distributed between the two bounds (inclusive; given in
    /// either order).
    Uniform {
        /// Shortest.
        min: u64,
        /// Longest.
        max: u64,
    },
    /// Normally distributed, a draw below zero taking 0: its mean (the
    /// estimate) is the mean of such draws, which exceeds `mean` where the
    /// spread reaches below zero.
    Normal {
        /// Mean.
        mean: u64,
        /// Standard deviation.
        std_dev: u64,
    },
    /// A function of the task's argument words (sizes, tile counts, ...).
    PerTask(PerTaskFn),
    /// Durations measured in earlier runs, drawn from uniformly (with
    /// replacement): the spread of real kernels, not only their mean
    /// ([`Cost::measured`], [`CostModel::from_profile`]).
    Measured(Measured),
}

/// Measured durations and their mean ([`Cost::Measured`]).
#[derive(Clone)]
pub struct Measured {
    mean: u64,
    durations: Arc<[u64]>,
}

impl Measured {
    /// The durations, in ns.
    pub fn durations(&self) -> &[u64] {
        &self.durations
    }
}

impl fmt::Debug for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} durations, mean {} ns",
            self.durations.len(),
            self.mean
        )
    }
}

impl Cost {
    /// A cost computed from the task's argument words.
    pub fn per_task(f: impl Fn(&[u64]) -> u64 + Send + Sync + 'static) -> Self {
        Cost::PerTask(Arc::new(f))
    }

    /// Drawn from `durations` (ns) measured in earlier runs; no
    /// durations: 0.
    ///
    /// ```
    /// use hostgraph::cost::{Cost, CostModel};
    ///
    /// let model = CostModel::new(Cost::measured(vec![10, 20, 60]));
    /// assert_eq!(model.estimate(0, &[]), 30, "the mean");
    /// let mut draws = model.sampler(1);
    /// assert!((0..100).all(|_| [10, 20, 60].contains(&draws.sample(0, &[]))));
    /// ```
    pub fn measured(durations: impl Into<Arc<[u64]>>) -> Self {
        let durations: Arc<[u64]> = durations.into();
        if durations.is_empty() {
            return Cost::Constant(0);
        }
        let sum: u128 = durations.iter().map(|&d| u128::from(d)).sum();
        Cost::Measured(Measured {
            mean: (sum / durations.len() as u128) as u64,
            durations,
        })
    }

    /// The mean, for a task with argument words `args`.
    pub fn mean(&self, args: &[u64]) -> u64 {
        match self {
            Cost::Constant(d) => *d,
            Cost::Uniform { min, max } => {
                let (lo, hi) = (*min.min(max), *min.max(max));
                lo + (hi - lo) / 2
            }
            Cost::Normal { mean, std_dev } => clamped_normal_mean(*mean, *std_dev),
            Cost::PerTask(f) => f(args),
            Cost::Measured(m) => m.mean,
        }
    }

    fn sample(&self, args: &[u64], rng: &mut fastrand::Rng) -> u64 {
        match self {
            Cost::Uniform { min, max } => rng.u64(*min.min(max)..=*min.max(max)),
            Cost::Measured(m) => m.durations[rng.usize(..m.durations.len())],
            Cost::Normal { mean, std_dev: 0 } => *mean,
            Cost::Normal { mean, std_dev } => {
                // Box-Muller, from two uniform draws in (0, 1].
                let (u, v) = (1.0 - rng.f64(), rng.f64());
                let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                (*mean as f64 + z * *std_dev as f64).max(0.0).round() as u64
            }
            other => other.mean(args),
        }
    }
}

/// The mean of `max(0, X)` for `X` normal with `mean` μ and `std_dev` σ:
/// μΦ(μ/σ) + σφ(μ/σ). μ itself where nothing reaches below zero: no
/// spread, or μ at least 8σ (the difference is then below 10⁻¹⁵σ).
fn clamped_normal_mean(mean: u64, std_dev: u64) -> u64 {
    if std_dev == 0 || mean / std_dev >= 8 {
        return mean;
    }
    let (mu, sigma) = (mean as f64, std_dev as f64);
    let a = mu / sigma;
    let density = (-a * a / 2.0).exp() / std::f64::consts::TAU.sqrt();
    let below = 0.5 * erfc(a / std::f64::consts::SQRT_2);
    (mu * (1.0 - below) + sigma * density).round() as u64
}

/// The complementary error function, to a fractional error below
/// 1.2 × 10⁻⁷ everywhere (the Chebyshev fit in Press et al., *Numerical
/// Recipes*, §6.2).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ]
    .iter()
    .rev()
    .fold(0.0, |acc, &c| c + t * acc);
    let r = t * (-z * z + poly).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

impl fmt::Debug for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cost::Constant(d) => write!(f, "Constant({d} ns)"),
            Cost::Uniform { min, max } => write!(f, "Uniform({min}..={max} ns)"),
            Cost::Normal { mean, std_dev } => write!(f, "Normal({mean} ± {std_dev} ns)"),
            Cost::PerTask(_) => f.write_str("PerTask(..)"),
            Cost::Measured(m) => write!(f, "Measured({m:?})"),
        }
    }
}

/// Kernel durations by func_id, with a default for the rest.
#[derive(Clone, Debug)]
pub struct CostModel {
    default: Cost,
    per_func: HashMap<i32, Cost>,
}

impl Default for CostModel {
    /// Every kernel takes 1 µs.
    fn default() -> Self {
        CostModel::new(Cost::Constant(1_000))
    }
}

impl CostModel {
    /// Every kernel costs `default`, until [`with`](Self::with) says otherwise.
    pub fn new(default: Cost) -> Self {
        CostModel {
            default,
            per_func: HashMap::new(),
        }
    }

    /// The same model, with kernels of `func_id` costing `cost`.
    pub fn with(mut self, func_id: i32, cost: Cost) -> Self {
        self.per_func.insert(func_id, cost);
        self
    }

    /// The durations measured in a profiled run (end minus start), per
    /// func_id, as [`Cost::Measured`]: drawn from, estimated by their
    /// mean. The default (a func_id the run did not have): every task's.
    pub fn from_profile(profile: &Profile) -> Self {
        let mut per_func: HashMap<i32, Vec<u64>> = HashMap::new();
        let mut all = Vec::with_capacity(profile.tasks.len());
        for r in &profile.tasks {
            let d = r.end_ns.saturating_sub(r.start_ns);
            per_func.entry(r.func_id).or_default().push(d);
            all.push(d);
        }
        CostModel {
            default: Cost::measured(all),
            per_func: per_func
                .into_iter()
                .map(|(f, d)| (f, Cost::measured(d)))
                .collect(),
        }
    }

    /// The cost of `func_id`'s kernels.
    pub fn cost(&self, func_id: i32) -> &Cost {
        self.per_func.get(&func_id).unwrap_or(&self.default)
    }

    /// The mean duration of a task of `func_id` with argument words `args`.
    pub fn estimate(&self, func_id: i32, args: &[u64]) -> u64 {
        self.cost(func_id).mean(args)
    }

    /// A duration for every task of `graph`, in task-id order, drawn with
    /// `seed`: what [`sampler`](Self::sampler)`(seed)` gives when asked for
    /// each task in id order. The virtual-time backend
    /// ([`VirtualTime`](crate::sim::VirtualTime)) runs a graph with these,
    /// so every policy meets the same durations for the same seed.
    pub fn durations(&self, graph: &Sealed, seed: u64) -> Vec<u64> {
        let mut rng = fastrand::Rng::with_seed(seed);
        // Graphs use few kernels: a short list beats hashing every task's
        // func_id.
        let mut costs: Vec<(i32, &Cost)> = Vec::new();
        (0..graph.len() as u32)
            .map(|t| {
                let f = graph.func_id(t);
                let cost = match costs.iter().find(|(g, _)| *g == f) {
                    Some(&(_, c)) => c,
                    None => {
                        costs.push((f, self.cost(f)));
                        self.cost(f)
                    }
                };
                cost.sample(graph.args(t), &mut rng)
            })
            .collect()
    }

    /// Draws of durations from this model, reproducible from `seed`.
    pub fn sampler(&self, seed: u64) -> CostSampler<'_> {
        CostSampler {
            model: self,
            rng: fastrand::Rng::with_seed(seed),
        }
    }
}

/// Durations drawn from a [`CostModel`] with a seeded generator: the same
/// seed and the same sequence of calls give the same durations, on any
/// machine.
pub struct CostSampler<'a> {
    model: &'a CostModel,
    rng: fastrand::Rng,
}

impl CostSampler<'_> {
    /// A duration for a task of `func_id` with argument words `args`.
    pub fn sample(&mut self, func_id: i32, args: &[u64]) -> u64 {
        self.model.cost(func_id).sample(args, &mut self.rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_is_within_its_stated_error() {
        // Values to 15 digits (Abramowitz & Stegun, table 7.1).
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953),
            (1.0, 0.157_299_207_050_285),
            (2.0, 0.004_677_734_981_047),
            (-1.0, 1.842_700_792_949_715),
        ] {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 1.2e-7,
                "erfc({x}) = {got}, not {want}"
            );
        }
    }

    /// A normal cost's estimate is the mean of its draws, cut off at zero
    /// as they are: a mean of 100 ns with a spread of 1 µs draws 451 ns on
    /// average, not 100.
    #[test]
    fn a_normal_costs_estimate_is_the_mean_of_its_draws() {
        for (mean, std_dev, want) in [(100, 1_000, 451), (0, 1_000, 399), (5_000, 100, 5_000)] {
            let model = CostModel::new(Cost::Normal { mean, std_dev });
            assert_eq!(model.estimate(0, &[]), want, "N({mean}, {std_dev})");
            let mut draws = model.sampler(3);
            let n = 200_000;
            let drawn = (0..n).map(|_| draws.sample(0, &[])).sum::<u64>() as f64 / n as f64;
            assert!(
                (drawn - want as f64).abs() < 0.01 * std_dev as f64,
                "N({mean}, {std_dev}): draws average {drawn}, the estimate is {want}"
            );
        }
    }

    /// Without spread, a normal cost is its mean exactly, even past the
    /// 53 bits an `f64` holds.
    #[test]
    fn a_normal_cost_without_spread_is_exact() {
        let mean = (1 << 53) + 1;
        let model = CostModel::new(Cost::Normal { mean, std_dev: 0 });
        assert_eq!(model.estimate(0, &[]), mean);
        assert_eq!(model.sampler(9).sample(0, &[]), mean);
    }
}
