//! paged_attention: decode-style attention over a paged KV cache, as the
//! orchestration plugins `examples/orch/paged_attention.c`,
//! `examples/orch_rs/paged_attention` and the reference-runtime-style
//! `examples/orch_ref/paged_attention.cpp` build it.
//!
//! Every sequence `b` has one query token per head and a context of
//! `context_lens[b]` cached tokens whose keys and values sit in fixed-size
//! blocks of a shared cache, in the order given by its row of the block
//! table. The heads are split into tiles of [`Config::head_tile`] heads (at
//! most 128, all sharing one key/value head); per (sequence, head tile) the
//! plugins build one chain of four tasks per KV block `j`:
//!
//! - `QK_j` (AIC): `S_j = q · K_jᵀ`, `[tile, block_size]` f32;
//! - `SF_j` (AIV): `m_j = rowmax(S_j · scale)`, `P_j = exp(S_j · scale -
//!   m_j)` rounded to the q/k/v precision (zero past the context),
//!   `l_j = rowsum(P_j)`;
//! - `PV_j` (AIC): `O_j = P_j · V_j`, `[tile, head_dim]` f32;
//! - `UP_j` (AIV): merges `(m_j, l_j, O_j)` into the chain's running
//!   `(m, l, O)` (online softmax); the last one writes `out = O / l`,
//!
//! with the edges `QK_j → SF_j → PV_j → UP_j` and `UP_{j-1} → UP_j`. A
//! chain's tasks are added together, block by block, chains in (sequence,
//! tile) order, so the graph holds `4 × Σ_b ceil(ctx_b / block_size) ×
//! head_tiles` tasks and its shape is known in advance ([`expected_graph`]).
//!
//! # Plugin arguments (the reference runtime's)
//!
//! Tensors: `0` query `[batch, heads, head_dim]` (f16, or bf16), `1` key
//! cache and `2` value cache `[num_blocks, block_size, kv_heads, head_dim]`
//! (the query's dtype), `3` block table `[batch, max_blocks_per_seq]`
//! (i32), `4` context lengths `[batch]` (i32, each in `1..=max_blocks_per_seq
//! × block_size`), `5` output `[batch · heads, head_dim]` (f32, copied back
//! at finalize). Scalar `0`: the softmax scale (f32 bits).
//!
//! # Kernel argument words (the reference runtime's, plus optional words)
//!
//! - QK (func 0): `[qi, kj, sij, q_tile, head_dim, block_size]`
//! - SF (func 1): `[sij, scale bits, pij, mij, lij, q_tile, block_size]`
//! - PV (func 2): `[pij, vj, oi_new, q_tile, block_size, head_dim]`
//! - UP (func 3): `[mij, lij, oi_new, mi, li, oi, is_first, is_last, out, q_tile, head_dim]`
//!
//! `qi` points at the tile's first query head, `kj` / `vj` at the block's
//! first key / value row of the tile's KV head, `out` at the tile's first
//! output row. As in the reference, a block's key and value rows are
//! `head_dim` apart, `pij` is f16 and every position of a block is in the
//! context — which holds for one KV head and contexts of whole blocks.
//! The hostgraph plugins pass optional trailing words that lift those
//! limits (kernels given only the reference's words use the defaults):
//! QK and PV `[.., kv_stride, dtype]` (elements between a block's rows,
//! default `head_dim`; the `OrchDType` code of q/k/v and `pij`, default
//! f16), SF `[.., valid, dtype]` (positions of the block in the context,
//! default `block_size`; the dtype of `pij`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use half::{bf16, f16};
use hostgraph::graph::{Task, TaskLists};
use hostgraph::{Backend, Error, KernelFn, OwnedArgs, RunReport, Runtime};
use hostgraph_orch_abi::{CoreType, DType, OrchTensor};

use crate::plugins::{Orchestration, run_finalize};
use crate::rng::SplitMix64;

/// func_id of the QK matmul (AIC).
pub const FUNC_QK: i32 = 0;
/// func_id of the softmax prepare (AIV).
pub const FUNC_SOFTMAX: i32 = 1;
/// func_id of the PV matmul (AIC).
pub const FUNC_PV: i32 = 2;
/// func_id of the online-softmax update (AIV).
pub const FUNC_UPDATE: i32 = 3;
/// Most heads in a tile (the reference's `q_tile_size = min(num_heads, 128)`).
pub const MAX_HEAD_TILE: usize = 128;
/// Largest allowed `|out - reference|`.
pub const TOLERANCE: f64 = 1e-2;
/// Bytes of a query, key or value element (f16 or bf16).
const ELEMENT_BYTES: u64 = 2;
/// Most tasks a [`Config`] may make: 2^24, 256 times the scale case. More
/// is a mistyped size, not a test of this example.
pub const MAX_TASKS: u64 = 1 << 24;
/// Most bytes a round of a [`Config`] may need ([`Config::bytes`]): 8 GiB.
pub const MAX_BYTES: u64 = 8 << 30;

/// The element type of query, keys and values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// IEEE half precision (the reference's).
    F16,
    /// bfloat16.
    Bf16,
}

impl Precision {
    /// The tensor dtype.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F16 => DType::F16,
            Precision::Bf16 => DType::BF16,
        }
    }

    /// The precision with the `OrchDType` code `code`, if it is f16 or bf16.
    pub fn from_code(code: u64) -> Option<Precision> {
        match u32::try_from(code).ok().and_then(DType::from_code)? {
            DType::F16 => Some(Precision::F16),
            DType::BF16 => Some(Precision::Bf16),
            _ => None,
        }
    }

    /// `x` rounded to this precision, as bits.
    pub fn encode(self, x: f32) -> u16 {
        match self {
            Precision::F16 => f16::from_f32(x).to_bits(),
            Precision::Bf16 => bf16::from_f32(x).to_bits(),
        }
    }

    /// The value of `bits`.
    pub fn decode(self, bits: u16) -> f32 {
        match self {
            Precision::F16 => f16::from_bits(bits).to_f32(),
            Precision::Bf16 => bf16::from_bits(bits).to_f32(),
        }
    }
}

/// How sequences map logical KV blocks to physical ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockPool {
    /// Every block of every sequence has its own physical block, in a
    /// shuffled order (plus a few spare blocks nobody uses).
    Distinct,
    /// A pool of this many physical blocks that sequences share: logical
    /// block `j` of sequence `b` is `(b × max_blocks_per_seq + j) mod pool`.
    Shared(usize),
}

/// The problem's shape, data and graph parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (divides `heads`).
    pub kv_heads: usize,
    /// Elements per head.
    pub head_dim: usize,
    /// Tokens per KV block.
    pub block_size: usize,
    /// Context length of each sequence (the batch is its length).
    pub context_lens: Vec<i32>,
    /// Physical block assignment.
    pub pool: BlockPool,
    /// Element type of q/k/v.
    pub precision: Precision,
    /// Seed of the generated data.
    pub seed: u64,
}

/// Why a [`Config`] does not [`validate`](Config::validate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadConfig {
    /// The field at fault (`heads`, `kv_heads`, `head_dim`, `block_size`,
    /// `context_lens` or `pool`), or `shape` when the sizes together make
    /// too many tasks or bytes.
    pub field: &'static str,
    /// What is wrong with it.
    pub why: String,
}

impl std::fmt::Display for BadConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.why)
    }
}

impl std::error::Error for BadConfig {}

impl Config {
    /// A small case for numerics, in the reference's conventions but for
    /// the ragged contexts: `batch` sequences with [`ragged_context_lens`]
    /// up to `max_context`, 16 query heads sharing one KV head, head dim
    /// 32, block 16.
    pub fn small(batch: usize, max_context: usize, precision: Precision) -> Config {
        Config {
            heads: 16,
            kv_heads: 1,
            head_dim: 32,
            block_size: 16,
            context_lens: ragged_context_lens(batch, 16, max_context),
            pool: BlockPool::Distinct,
            precision,
            seed: 0x5eed,
        }
    }

    /// The scale case at `batch` sequences of `context` tokens: block 128,
    /// one tile of 2 heads sharing one KV head, head dim 16, blocks shared
    /// from a pool of 512. `scaled(256, 8100, ..)` is the reference
    /// runtime's large test size: 256 × 64 × 4 = 65,536 tasks.
    pub fn scaled(batch: usize, context: i32, precision: Precision) -> Config {
        Config {
            heads: 2,
            kv_heads: 1,
            head_dim: 16,
            block_size: 128,
            context_lens: vec![context; batch],
            pool: BlockPool::Shared(512),
            precision,
            seed: 0x5ca1e,
        }
    }

    /// The same problem with every context rounded up to whole blocks, as
    /// orchestrations that pass only the reference's kernel words need;
    /// an error (naming `context_lens`) if a rounded length passes
    /// `i32::MAX`, or (naming `block_size`) for a block of 0.
    pub fn whole_blocks(mut self) -> Result<Config, BadConfig> {
        let block = self.block_size;
        if block == 0 {
            return Err(BadConfig {
                field: "block_size",
                why: "must not be zero".into(),
            });
        }
        for ctx in &mut self.context_lens {
            let rounded = ((*ctx).max(1) as usize)
                .div_ceil(block)
                .checked_mul(block)
                .and_then(|n| i32::try_from(n).ok());
            *ctx = rounded.ok_or_else(|| BadConfig {
                field: "context_lens",
                why: format!(
                    "context {ctx} rounded up to whole blocks of {block} passes {}",
                    i32::MAX
                ),
            })?;
        }
        Ok(self)
    }

    /// Sequences.
    pub fn batch(&self) -> usize {
        self.context_lens.len()
    }

    /// Query heads per KV head.
    pub fn group(&self) -> usize {
        self.heads / self.kv_heads
    }

    /// Heads per task chain: the whole group of a KV head, at most
    /// [`MAX_HEAD_TILE`] (for one KV head and at most 128 heads, the
    /// reference's `min(num_heads, 128)`).
    pub fn head_tile(&self) -> usize {
        self.group().min(MAX_HEAD_TILE)
    }

    /// Head tiles (task chains per sequence).
    pub fn head_tiles(&self) -> usize {
        self.heads / self.head_tile()
    }

    /// KV blocks sequence `b` uses: `ceil(ctx_b / block_size)`.
    pub fn blocks_of(&self, b: usize) -> usize {
        (self.context_lens[b].max(0) as usize).div_ceil(self.block_size)
    }

    /// Columns of the block table: the most blocks any sequence uses.
    pub fn max_blocks_per_seq(&self) -> usize {
        (0..self.batch())
            .map(|b| self.blocks_of(b))
            .max()
            .unwrap_or(0)
    }

    /// The softmax scale, `1 / sqrt(head_dim)`.
    pub fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }

    /// KV blocks the sequences use: `Σ ceil(ctx_b / block_size)`
    /// (saturating).
    fn used_blocks(&self) -> u64 {
        (0..self.batch())
            .map(|b| self.blocks_of(b) as u64)
            .fold(0, u64::saturating_add)
    }

    /// Physical blocks in the caches (saturating): the used ones and three
    /// more, in a distinct pool; the pool's size, in a shared one.
    pub fn num_blocks(&self) -> u64 {
        match self.pool {
            BlockPool::Distinct => self.used_blocks().saturating_add(3),
            BlockPool::Shared(pool) => pool as u64,
        }
    }

    /// Tasks the graph holds: `4 × Σ ceil(ctx / block_size) × head_tiles`
    /// (saturating).
    pub fn task_count(&self) -> usize {
        let tasks = product(&[4, self.used_blocks(), self.head_tiles() as u64]);
        usize::try_from(tasks).unwrap_or(usize::MAX)
    }

    /// Bytes of the host tensors (saturating): query, key and value caches,
    /// block table, context lengths and the f32 output.
    pub fn host_bytes(&self) -> u64 {
        let batch = self.batch() as u64;
        let table = product(&[batch, self.max_blocks_per_seq() as u64, 4]);
        sum(&[self.copied_bytes(), table, product(&[batch, 4])])
    }

    /// Bytes of device memory the hostgraph plugins allocate (saturating):
    /// copies of the query, caches and output; per KV block and head tile
    /// f32 scores, probabilities, two f32 softmax statistics per head and
    /// f32 PV partials; per chain an f32 running maximum, sum and output
    /// per head.
    pub fn device_bytes(&self) -> u64 {
        let (block, tile, tiles) = (
            self.block_size as u64,
            self.head_tile() as u64,
            self.head_tiles() as u64,
        );
        let dim_and_stats = (self.head_dim as u64).saturating_add(2);
        let per_slot = sum(&[
            product(&[tile, block, 4 + ELEMENT_BYTES]),
            product(&[tile, dim_and_stats, 4]),
        ]);
        let chains = product(&[self.batch() as u64, tiles, tile, dim_and_stats, 4]);
        sum(&[
            self.copied_bytes(),
            product(&[self.used_blocks(), tiles, per_slot]),
            chains,
        ])
    }

    /// Bytes a round needs, host and device ([`MAX_BYTES`] bounds it).
    pub fn bytes(&self) -> u64 {
        self.host_bytes().saturating_add(self.device_bytes())
    }

    /// Bytes of the tensors the plugins copy to the device: query, key and
    /// value caches, output.
    fn copied_bytes(&self) -> u64 {
        let (batch, heads, dim) = (self.batch() as u64, self.heads as u64, self.head_dim as u64);
        let query = product(&[batch, heads, dim, ELEMENT_BYTES]);
        let cache = product(&[
            self.num_blocks(),
            self.block_size as u64,
            self.kv_heads as u64,
            dim,
            ELEMENT_BYTES,
        ]);
        let out = product(&[batch, heads, dim, 4]);
        sum(&[query, cache, cache, out])
    }

    /// Checks the shape: positive sizes, KV heads dividing the heads, a
    /// group that tiles evenly, every context length at least 1, block ids
    /// that fit the i32 block table, and at most [`MAX_TASKS`] tasks and
    /// [`MAX_BYTES`] bytes. The error names the field.
    pub fn validate(&self) -> Result<(), BadConfig> {
        let bad = |field, why: String| Err(BadConfig { field, why });
        let sizes = [
            ("heads", self.heads),
            ("kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
            ("block_size", self.block_size),
            ("context_lens", self.batch()),
        ];
        if let Some((field, _)) = sizes.iter().find(|(_, n)| *n == 0) {
            return bad(field, "must not be zero (or empty)".into());
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return bad(
                "kv_heads",
                format!("{} does not divide heads ({})", self.kv_heads, self.heads),
            );
        }
        if !self.group().is_multiple_of(self.head_tile()) {
            return bad(
                "heads",
                format!(
                    "{} heads per KV head do not split into tiles of {MAX_HEAD_TILE}",
                    self.group()
                ),
            );
        }
        if let Some(ctx) = self.context_lens.iter().find(|&&c| c < 1) {
            return bad("context_lens", format!("context length {ctx} < 1"));
        }
        if let BlockPool::Shared(0) = self.pool {
            return bad("pool", "empty block pool".into());
        }
        if self.num_blocks() > 1 << 31 {
            return bad(
                "shape",
                format!(
                    "{} KV blocks: the i32 block table numbers at most 2^31",
                    self.num_blocks()
                ),
            );
        }
        let tasks = self.task_count() as u64;
        if tasks > MAX_TASKS {
            return bad(
                "shape",
                format!("makes {tasks} tasks, more than the example's {MAX_TASKS}"),
            );
        }
        let bytes = self.bytes();
        if bytes > MAX_BYTES {
            return bad(
                "shape",
                format!(
                    "needs {:.1} GiB (tensors, their device copies and scratch), more than the \
                     example's {} GiB",
                    bytes as f64 / f64::from(1 << 30),
                    MAX_BYTES >> 30
                ),
            );
        }
        Ok(())
    }

    /// Whether an orchestration that passes only the reference's kernel
    /// words computes this problem right: one KV head, f16, contexts of
    /// whole blocks. `None` if so, else why not.
    pub fn reference_limits(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.kv_heads != 1 {
            why.push(format!(
                "{} KV heads (the reference's kernels read one)",
                self.kv_heads
            ));
        }
        if self.precision != Precision::F16 {
            why.push("bf16 (the reference's kernels are f16)".to_owned());
        }
        let block = self.block_size as i32;
        if let Some(ctx) = self.context_lens.iter().find(|&&c| c % block != 0) {
            why.push(format!(
                "context {ctx} ends inside a block of {block} (the reference's kernels attend to whole blocks)"
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

/// `batch` deterministic ragged context lengths in `1..=max_context`: the
/// first four are two blocks (an exact multiple of the block when
/// `max_context` allows), half a block (shorter than one block),
/// `max_context` and a single token; the rest spread over the range.
///
/// # Panics
/// If `max_context` passes `i32::MAX` (context lengths are i32).
pub fn ragged_context_lens(batch: usize, block_size: usize, max_context: usize) -> Vec<i32> {
    assert!(
        i32::try_from(max_context).is_ok(),
        "context length {max_context} passes i32::MAX"
    );
    let max = max_context.max(1);
    let fixed = [
        (2 * block_size).min(max),
        (block_size / 2).clamp(1, max),
        max,
        1,
    ];
    let mut rng = SplitMix64(batch as u64 ^ 0xc0ffee);
    (0..batch)
        .map(|b| fixed.get(b).copied().unwrap_or_else(|| rng.below(max) + 1) as i32)
        .collect()
}

/// The host tensors of one problem.
#[derive(Clone, Debug)]
pub struct Problem {
    /// What was generated.
    pub config: Config,
    /// `[batch, heads, head_dim]`, as bits of `config.precision`.
    pub query: Vec<u16>,
    /// `[num_blocks, block_size, kv_heads, head_dim]`.
    pub key_cache: Vec<u16>,
    /// `[num_blocks, block_size, kv_heads, head_dim]`.
    pub value_cache: Vec<u16>,
    /// `[batch, max_blocks_per_seq]`; `-1` where a sequence has no block.
    pub block_table: Vec<i32>,
    /// Physical blocks in the caches.
    pub num_blocks: usize,
}

impl Problem {
    /// Random q/k/v in `[-1, 1)` (every cache slot, used or not) and the
    /// block table `config.pool` describes.
    ///
    /// # Panics
    /// If `config` does not [`validate`](Config::validate).
    pub fn generate(config: Config) -> Problem {
        if let Err(e) = config.validate() {
            panic!("paged_attention: {e}");
        }
        let mut rng = SplitMix64(config.seed);
        let (block_table, num_blocks) = block_table(&config, &mut rng);
        let p = config.precision;
        let mut random =
            |n: usize| -> Vec<u16> { (0..n).map(|_| p.encode(rng.symmetric())).collect() };
        let cache = num_blocks * config.block_size * config.kv_heads * config.head_dim;
        Problem {
            query: random(config.batch() * config.heads * config.head_dim),
            key_cache: random(cache),
            value_cache: random(cache),
            block_table,
            num_blocks,
            config,
        }
    }

    /// Elements of the output `[batch · heads, head_dim]`.
    pub fn out_len(&self) -> usize {
        self.config.batch() * self.config.heads * self.config.head_dim
    }

    /// The plugin arguments (see the module docs) with `out` as output.
    pub fn args(&self, out: &mut [f32]) -> OwnedArgs {
        let c = &self.config;
        let (batch, heads, dim) = (c.batch() as u64, c.heads as u64, c.head_dim as u64);
        let cache = [
            self.num_blocks as u64,
            c.block_size as u64,
            c.kv_heads as u64,
            dim,
        ];
        let dtype = c.precision.dtype();
        let max_blocks = c.max_blocks_per_seq() as u64;
        let mut args = OwnedArgs::new();
        args.push_tensor(OrchTensor::new(
            self.query.as_ptr(),
            &[batch, heads, dim],
            dtype,
        ))
        .push_tensor(OrchTensor::new(self.key_cache.as_ptr(), &cache, dtype))
        .push_tensor(OrchTensor::new(self.value_cache.as_ptr(), &cache, dtype))
        .push_tensor(OrchTensor::new(
            self.block_table.as_ptr(),
            &[batch, max_blocks],
            DType::I32,
        ))
        .push_tensor(OrchTensor::new(
            c.context_lens.as_ptr(),
            &[batch],
            DType::I32,
        ))
        .push_tensor(OrchTensor::new(
            out.as_mut_ptr(),
            &[batch * heads, dim],
            DType::F32,
        ))
        .push_scalar(u64::from(c.scale().to_bits()));
        args
    }
}

/// The product of `factors`, saturating at `u64::MAX`.
fn product(factors: &[u64]) -> u64 {
    factors.iter().fold(1, |a, &b| a.saturating_mul(b))
}

/// The sum of `terms`, saturating at `u64::MAX`.
fn sum(terms: &[u64]) -> u64 {
    terms.iter().fold(0, |a, &b| a.saturating_add(b))
}

/// The block table of `config` and the number of physical blocks.
fn block_table(config: &Config, rng: &mut SplitMix64) -> (Vec<i32>, usize) {
    let max_blocks = config.max_blocks_per_seq();
    let num_blocks = config.num_blocks() as usize;
    let physical = match config.pool {
        BlockPool::Distinct => {
            let mut perm: Vec<usize> = (0..num_blocks).collect();
            for i in (1..num_blocks).rev() {
                perm.swap(i, rng.below(i + 1));
            }
            perm
        }
        BlockPool::Shared(_) => Vec::new(),
    };
    let mut table = vec![-1i32; config.batch() * max_blocks];
    let mut distinct = physical.into_iter();
    for b in 0..config.batch() {
        for j in 0..config.blocks_of(b) {
            let slot = b * max_blocks + j;
            let block = match config.pool {
                BlockPool::Distinct => distinct.next().expect("a block per used slot"),
                BlockPool::Shared(pool) => slot % pool,
            };
            table[slot] = block as i32;
        }
    }
    (table, num_blocks)
}

/// The golden output, computed independently of the kernels: for every
/// sequence and head, `softmax(q · Kᵀ · scale) · V` in f64 over the whole
/// gathered context at once (no online softmax).
pub fn reference(p: &Problem) -> Vec<f32> {
    let golden = Reference::new(p);
    (0..p.config.batch())
        .flat_map(|b| golden.sequence(b))
        .collect()
}

/// [`reference()`] one sequence at a time (to check a sample of a large
/// problem): q, k and v decoded to f64 once.
pub struct Reference<'a> {
    problem: &'a Problem,
    query: Vec<f64>,
    keys: Vec<f64>,
    values: Vec<f64>,
}

impl<'a> Reference<'a> {
    /// Decodes `problem`'s tensors.
    pub fn new(problem: &'a Problem) -> Reference<'a> {
        let decode = |bits: &[u16]| -> Vec<f64> {
            let p = problem.config.precision;
            bits.iter().map(|&x| f64::from(p.decode(x))).collect()
        };
        Reference {
            problem,
            query: decode(&problem.query),
            keys: decode(&problem.key_cache),
            values: decode(&problem.value_cache),
        }
    }

    /// The golden output of sequence `b`, `[heads, head_dim]`.
    pub fn sequence(&self, b: usize) -> Vec<f32> {
        let c = &self.problem.config;
        let dim = c.head_dim;
        let rows = gather_rows(self.problem, b);
        let mut out = Vec::with_capacity(c.heads * dim);
        for h in 0..c.heads {
            let kv = (h / (c.heads / c.kv_heads)) * dim;
            let q = &self.query[(b * c.heads + h) * dim..][..dim];
            let scores: Vec<f64> = rows
                .iter()
                .map(|&r| dot(q, &self.keys[r + kv..][..dim]) * f64::from(c.scale()))
                .collect();
            let mut acc = vec![0.0f64; dim];
            for (w, &r) in softmax(&scores).into_iter().zip(&rows) {
                for (a, v) in acc.iter_mut().zip(&self.values[r + kv..][..dim]) {
                    *a += w * v;
                }
            }
            out.extend(acc.iter().map(|&x| x as f32));
        }
        out
    }
}

/// Offsets of the cache rows (`[block, pos]`, all KV heads) of sequence
/// `b`'s context, in order.
fn gather_rows(p: &Problem, b: usize) -> Vec<usize> {
    let c = &p.config;
    let max_blocks = c.max_blocks_per_seq();
    let row_len = c.kv_heads * c.head_dim;
    (0..c.context_lens[b] as usize)
        .map(|pos| {
            let block = p.block_table[b * max_blocks + pos / c.block_size] as usize;
            (block * c.block_size + pos % c.block_size) * row_len
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// The largest `|got - want|` (infinite for a NaN or a length mismatch).
pub fn max_abs_error(got: &[f32], want: &[f32]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    got.iter()
        .zip(want)
        .map(|(&g, &w)| {
            let e = (f64::from(g) - f64::from(w)).abs();
            if e.is_nan() { f64::INFINITY } else { e }
        })
        .fold(0.0, f64::max)
}

// ---- kernels ---------------------------------------------------------------

/// `len` elements of device memory at `word`.
///
/// # Safety
/// `word` must point to `len` initialized `T`s that nothing writes while the
/// slice lives.
unsafe fn dev<'a, T>(word: u64, len: usize) -> &'a [T] {
    // SAFETY: forwarded from the caller.
    unsafe { std::slice::from_raw_parts(word as *const T, len) }
}

/// `len` elements of device memory at `word`, writable.
///
/// # Safety
/// `word` must point to `len` initialized `T`s that nothing else accesses
/// while the slice lives.
unsafe fn dev_mut<'a, T>(word: u64, len: usize) -> &'a mut [T] {
    // SAFETY: forwarded from the caller.
    unsafe { std::slice::from_raw_parts_mut(word as *mut T, len) }
}

/// Optional word `i` of `args` (a hostgraph extension after the
/// reference's words), or `default` when the orchestration passed only the
/// reference's.
fn word_or(args: &[u64], i: usize, default: u64) -> u64 {
    args.get(i).copied().unwrap_or(default)
}

/// The precision in optional word `i` (default f16, the reference's).
fn precision_word(args: &[u64], i: usize) -> Precision {
    let word = word_or(args, i, u64::from(DType::F16.code()));
    Precision::from_code(word).unwrap_or_else(|| panic!("paged_attention: bad dtype {word}"))
}

/// Elements a block of `rows` rows of `dim` elements, `stride` apart, spans.
fn block_span(rows: usize, dim: usize, stride: usize) -> usize {
    (rows - 1) * stride + dim
}

/// QK (AIC): `sij[i, p] = qi[i] · kj[p]` over the whole block.
fn qk(args: &[u64]) {
    let [tile, dim, block] = [args[3], args[4], args[5]].map(|w| w as usize);
    let stride = word_or(args, 6, dim as u64) as usize;
    let prec = precision_word(args, 7);
    // SAFETY: the orchestration passes qi (tile × head_dim), the key block
    // (block_size rows of head_dim, `stride` apart) and this block's sij
    // (tile × block_size), which only this task writes.
    let (q, k, s) = unsafe {
        (
            dev::<u16>(args[0], tile * dim),
            dev::<u16>(args[1], block_span(block, dim, stride)),
            dev_mut::<f32>(args[2], tile * block),
        )
    };
    let q: Vec<f32> = q.iter().map(|&x| prec.decode(x)).collect();
    for (qi, row) in q.chunks_exact(dim).zip(s.chunks_exact_mut(block)) {
        for (pos, out) in row.iter_mut().enumerate() {
            let kp = &k[pos * stride..][..dim];
            *out = qi.iter().zip(kp).map(|(a, &b)| a * prec.decode(b)).sum();
        }
    }
}

/// SF (AIV): per row, over the first `valid` positions, `m = max(s ·
/// scale)`, `p = exp(s · scale - m)` rounded to the precision (0 past
/// `valid`), `l = Σ p`.
fn softmax_prepare(args: &[u64]) {
    let scale = f32::from_bits(args[1] as u32);
    let [tile, block] = [args[5], args[6]].map(|w| w as usize);
    let valid = word_or(args, 7, block as u64) as usize;
    let prec = precision_word(args, 8);
    // SAFETY: the orchestration passes this block's sij (tile × block_size,
    // f32), pij (tile × block_size, in the precision), mij and lij (tile
    // f32 each), which only this task accesses now.
    let (s, p, m, l) = unsafe {
        (
            dev::<f32>(args[0], tile * block),
            dev_mut::<u16>(args[2], tile * block),
            dev_mut::<f32>(args[3], tile),
            dev_mut::<f32>(args[4], tile),
        )
    };
    for (i, (s_row, p_row)) in s
        .chunks_exact(block)
        .zip(p.chunks_exact_mut(block))
        .enumerate()
    {
        let (live, masked) = p_row.split_at_mut(valid);
        let max = s_row[..valid]
            .iter()
            .map(|&x| x * scale)
            .fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for (out, &x) in live.iter_mut().zip(s_row) {
            *out = prec.encode((x * scale - max).exp());
            sum += prec.decode(*out);
        }
        masked.fill(prec.encode(0.0));
        (m[i], l[i]) = (max, sum);
    }
}

/// PV (AIC): `oi_new[i] = Σ_p pij[i, p] · vj[p]`.
fn pv(args: &[u64]) {
    let [tile, block, dim] = [args[3], args[4], args[5]].map(|w| w as usize);
    let stride = word_or(args, 6, dim as u64) as usize;
    let prec = precision_word(args, 7);
    // SAFETY: the orchestration passes pij (tile × block_size), the value
    // block (block_size rows of head_dim, `stride` apart) and this block's
    // oi_new (tile × head_dim), which only this task writes.
    let (p, v, o) = unsafe {
        (
            dev::<u16>(args[0], tile * block),
            dev::<u16>(args[1], block_span(block, dim, stride)),
            dev_mut::<f32>(args[2], tile * dim),
        )
    };
    for (p_row, oi) in p.chunks_exact(block).zip(o.chunks_exact_mut(dim)) {
        oi.fill(0.0);
        for (pos, &w) in p_row.iter().enumerate() {
            let w = prec.decode(w);
            for (acc, &x) in oi.iter_mut().zip(&v[pos * stride..][..dim]) {
                *acc += w * prec.decode(x);
            }
        }
    }
}

/// UP (AIV): online-softmax merge of `(mij, lij, oi_new)` into the running
/// `(mi, li, oi)`; the chain's last block writes `out = oi / li`.
fn update(args: &[u64]) {
    let (is_first, is_last) = (args[6] != 0, args[7] != 0);
    let [tile, dim] = [args[9], args[10]].map(|w| w as usize);
    // SAFETY: the orchestration passes this block's mij, lij (tile f32
    // each) and oi_new (tile × head_dim), the chain's mi, li and oi, and its
    // rows of out (tile × head_dim); the update chain's edges serialize
    // every access to the chain's state and out.
    let (mij, lij, oi_new, mi, li, oi, out) = unsafe {
        (
            dev::<f32>(args[0], tile),
            dev::<f32>(args[1], tile),
            dev::<f32>(args[2], tile * dim),
            dev_mut::<f32>(args[3], tile),
            dev_mut::<f32>(args[4], tile),
            dev_mut::<f32>(args[5], tile * dim),
            dev_mut::<f32>(args[8], tile * dim),
        )
    };
    for i in 0..tile {
        let (acc, new) = (&mut oi[i * dim..][..dim], &oi_new[i * dim..][..dim]);
        if is_first {
            (mi[i], li[i]) = (mij[i], lij[i]);
            acc.copy_from_slice(new);
        } else {
            let m = mi[i].max(mij[i]);
            let (alpha, beta) = ((mi[i] - m).exp(), (mij[i] - m).exp());
            (mi[i], li[i]) = (m, alpha * li[i] + beta * lij[i]);
            for (x, &y) in acc.iter_mut().zip(new) {
                *x = alpha * *x + beta * y;
            }
        }
        if is_last {
            for (y, &x) in out[i * dim..][..dim].iter_mut().zip(acc.iter()) {
                *y = x / li[i];
            }
        }
    }
}

// ---- the expected graph and the exactly-once / order trace -----------------

/// The four stages of a KV block, in the order a chain adds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// QK matmul.
    Qk,
    /// Softmax prepare.
    Softmax,
    /// PV matmul.
    Pv,
    /// Online-softmax update.
    Update,
}

impl Stage {
    const ALL: [Stage; 4] = [Stage::Qk, Stage::Softmax, Stage::Pv, Stage::Update];

    /// The stage whose kernel is `func_id`.
    pub fn of(func_id: i32) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.func_id() == func_id)
    }

    /// Position in [`Stage::ALL`].
    fn index(self) -> usize {
        self as usize
    }

    /// The kernel's func_id.
    pub fn func_id(self) -> i32 {
        match self {
            Stage::Qk => FUNC_QK,
            Stage::Softmax => FUNC_SOFTMAX,
            Stage::Pv => FUNC_PV,
            Stage::Update => FUNC_UPDATE,
        }
    }

    /// The core type it runs on.
    pub fn core_type(self) -> CoreType {
        match self {
            Stage::Qk | Stage::Pv => CoreType::Aic,
            Stage::Softmax | Stage::Update => CoreType::Aiv,
        }
    }
}

/// One expected task: its stage and the tasks it waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedTask {
    /// What it computes.
    pub stage: Stage,
    /// Its predecessors, ascending.
    pub preds: Vec<u32>,
}

/// The graph the plugins build for a [`Config`], derived from the
/// (sequence, head tile, KV block) structure alone.
pub fn expected_graph(config: &Config) -> Vec<ExpectedTask> {
    let mut tasks = Vec::with_capacity(config.task_count());
    for b in 0..config.batch() {
        for _tile in 0..config.head_tiles() {
            let mut prev_update = None;
            for _j in 0..config.blocks_of(b) {
                let base = tasks.len() as u32;
                for (k, stage) in Stage::ALL.into_iter().enumerate() {
                    let preds = match (stage, prev_update) {
                        (Stage::Qk, _) => vec![],
                        (Stage::Update, Some(up)) => vec![up, base + 2],
                        _ => vec![base + k as u32 - 1],
                    };
                    tasks.push(ExpectedTask { stage, preds });
                }
                prev_update = Some(base + 3);
            }
        }
    }
    tasks
}

/// A task of a built graph: its kernel, argument words and predecessors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltTask {
    /// Its func_id.
    pub func_id: i32,
    /// Its core type.
    pub core_type: CoreType,
    /// Its argument words.
    pub args: Vec<u64>,
    /// The tasks it waits for, ascending.
    pub preds: Vec<u32>,
}

/// The graph built into `rt` (not yet finalized or discarded), by task id.
pub fn built_graph<E: Backend>(rt: &Runtime<E>) -> Vec<BuiltTask> {
    let world = rt.world();
    let lists = world.resource::<TaskLists>();
    // No Task component yet means no task was ever built.
    let Some(mut query) = world.try_query::<&Task>() else {
        return Vec::new();
    };
    let mut tasks: Vec<&Task> = query.iter(world).collect();
    tasks.sort_by_key(|t| t.id);
    let mut built: Vec<BuiltTask> = tasks
        .iter()
        .map(|t| BuiltTask {
            func_id: t.kernel.func_id,
            core_type: t.kernel.core_type,
            args: lists.args(t).to_vec(),
            preds: Vec::new(),
        })
        .collect();
    for t in &tasks {
        for s in lists.successors(t) {
            built[s.index()].preds.push(t.id.0);
        }
    }
    for t in &mut built {
        t.preds.sort_unstable();
    }
    built
}

/// Per task of a built graph: how often it ran, whether it finished, what
/// it waits for. A traced kernel finds its task by its stage and argument
/// words, the only things a kernel sees.
struct Trace {
    ids: [HashMap<Vec<u64>, u32>; 4],
    preds: Vec<Vec<u32>>,
    runs: Vec<AtomicU32>,
    done: Vec<AtomicBool>,
    violations: AtomicUsize,
    first_violation: Mutex<Option<String>>,
}

impl Trace {
    fn new(graph: &[BuiltTask]) -> Trace {
        let mut trace = Trace {
            ids: Default::default(),
            preds: graph.iter().map(|t| t.preds.clone()).collect(),
            runs: graph.iter().map(|_| AtomicU32::new(0)).collect(),
            done: graph.iter().map(|_| AtomicBool::new(false)).collect(),
            violations: AtomicUsize::new(0),
            first_violation: Mutex::new(None),
        };
        for (id, t) in graph.iter().enumerate() {
            let Some(stage) = Stage::of(t.func_id) else {
                trace.violate(format!("task {id} has func_id {}, no stage's", t.func_id));
                continue;
            };
            let ids = &mut trace.ids[stage.index()];
            if let Some(other) = ids.insert(t.args.clone(), id as u32) {
                trace.violate(format!(
                    "tasks {other} and {id} have the same kernel and argument words (the trace cannot tell them apart)"
                ));
            }
        }
        trace
    }

    fn violate(&self, what: String) {
        self.violations.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first_violation
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(what);
    }

    /// The task of `stage` with argument words `args`.
    fn task(&self, stage: Stage, args: &[u64]) -> Option<usize> {
        self.ids[stage.index()].get(args).map(|&id| id as usize)
    }

    /// Start mark: counts the run, checks every predecessor finished.
    fn begin(&self, task: usize) {
        self.runs[task].fetch_add(1, Ordering::Relaxed);
        for &p in &self.preds[task] {
            if !self.done[p as usize].load(Ordering::Acquire) {
                self.violate(format!(
                    "task {task} started before predecessor {p} finished"
                ));
            }
        }
    }

    /// Finish mark.
    fn end(&self, task: usize) {
        self.done[task].store(true, Ordering::Release);
    }

    /// The verdict: runs per task, violations seen.
    fn report(&self) -> TraceReport {
        let mut first_problem = self
            .first_violation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut exactly_once = 0;
        for (task, runs) in self.runs.iter().enumerate() {
            match runs.load(Ordering::Relaxed) {
                1 => exactly_once += 1,
                n => {
                    first_problem.get_or_insert(format!("task {task} ran {n} times"));
                }
            }
        }
        TraceReport {
            tasks: self.runs.len(),
            exactly_once,
            order_violations: self.violations.load(Ordering::Relaxed),
            first_problem,
        }
    }
}

/// The trace the traced kernels report to (one traced run at a time).
static ACTIVE: RwLock<Option<Arc<Trace>>> = RwLock::new(None);
/// Serializes traced runs (tests run in parallel threads).
static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// What a traced run observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceReport {
    /// Tasks of the built graph.
    pub tasks: usize,
    /// Tasks that ran exactly once.
    pub exactly_once: usize,
    /// Starts before a predecessor had finished, runs of tasks not in the
    /// graph, and tasks the trace cannot tell apart.
    pub order_violations: usize,
    /// The first problem found, if any.
    pub first_problem: Option<String>,
}

impl TraceReport {
    /// Whether every task ran exactly once, each after its predecessors.
    pub fn ok(&self) -> bool {
        self.exactly_once == self.tasks && self.order_violations == 0
    }
}

/// An installed trace; the traced kernels report to it until it is dropped.
struct TraceSession {
    trace: Arc<Trace>,
    _exclusive: MutexGuard<'static, ()>,
}

impl TraceSession {
    fn install(graph: &[BuiltTask]) -> TraceSession {
        let exclusive = EXCLUSIVE.lock().unwrap_or_else(|p| p.into_inner());
        let trace = Arc::new(Trace::new(graph));
        *ACTIVE.write().unwrap_or_else(|p| p.into_inner()) = Some(trace.clone());
        TraceSession {
            trace,
            _exclusive: exclusive,
        }
    }
}

impl Drop for TraceSession {
    fn drop(&mut self) {
        *ACTIVE.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Runs `kernel` between the active trace's start and finish marks for the
/// task of `stage` with these argument words.
fn traced(stage: Stage, args: &[u64], kernel: fn(&[u64])) {
    let active = ACTIVE.read().unwrap_or_else(|p| p.into_inner());
    let trace = active.as_ref().expect("traced kernel ran without a trace");
    let Some(task) = trace.task(stage, args) else {
        trace.violate(format!(
            "a {stage:?} task ran with argument words not in the graph"
        ));
        return kernel(args);
    };
    trace.begin(task);
    kernel(args);
    trace.end(task);
}

fn traced_qk(args: &[u64]) {
    traced(Stage::Qk, args, qk);
}

fn traced_softmax(args: &[u64]) {
    traced(Stage::Softmax, args, softmax_prepare);
}

fn traced_pv(args: &[u64]) {
    traced(Stage::Pv, args, pv);
}

fn traced_update(args: &[u64]) {
    traced(Stage::Update, args, update);
}

// ---- rounds -----------------------------------------------------------------

/// Which kernels a round registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// The kernels alone.
    Plain,
    /// The kernels wrapped in exactly-once / dependency-order marks.
    Traced,
}

/// Registers the four kernels.
pub fn register_kernels<E: Backend>(rt: &mut Runtime<E>, kernels: Kernels) {
    let set: [fn(&[u64]); 4] = match kernels {
        Kernels::Plain => [qk, softmax_prepare, pv, update],
        Kernels::Traced => [traced_qk, traced_softmax, traced_pv, traced_update],
    };
    for (stage, f) in Stage::ALL.into_iter().zip(set) {
        rt.register_kernel(
            stage.func_id(),
            KernelFn::rust(f).named(format!("{stage:?}")),
        );
    }
}

/// What a round produced.
#[derive(Clone, Debug)]
pub struct Round {
    /// The output `[batch · heads, head_dim]`.
    pub out: Vec<f32>,
    /// The run's report.
    pub report: RunReport,
    /// The trace's verdict ([`Kernels::Traced`] only).
    pub trace: Option<TraceReport>,
}

/// One round: register kernels, build with `plugin` over `problem`, run,
/// finalize. With [`Kernels::Traced`] every task of the built graph must
/// run exactly once, after its predecessors (traced rounds of the whole
/// process run one at a time).
pub fn run_round<E: Backend>(
    rt: &mut Runtime<E>,
    plugin: &impl Orchestration,
    problem: &Problem,
    kernels: Kernels,
) -> Result<Round, Error> {
    let mut out = vec![0.0f32; problem.out_len()];
    let args = problem.args(&mut out);
    register_kernels(rt, kernels);
    // SAFETY: the plugins record `out` as the only tensor pair, and `out`
    // is neither moved nor touched until the round has finalized.
    unsafe { plugin.build(rt, &args)? };
    let session = (kernels == Kernels::Traced).then(|| TraceSession::install(&built_graph(rt)));
    let report = run_finalize(rt)?;
    let trace = session.map(|s| s.trace.report());
    Ok(Round { out, report, trace })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(context_lens: Vec<i32>) -> Config {
        Config {
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
            block_size: 4,
            context_lens,
            pool: BlockPool::Distinct,
            precision: Precision::Bf16,
            seed: 1,
        }
    }

    #[test]
    fn ragged_lengths_cover_the_edge_cases() {
        assert_eq!(ragged_context_lens(4, 16, 50), [32, 8, 50, 1]);
        let many = ragged_context_lens(40, 16, 50);
        assert!(many.iter().all(|&c| (1..=50).contains(&c)));
    }

    #[test]
    fn expected_graph_chains_updates() {
        let config = tiny(vec![5, 4]);
        let graph = expected_graph(&config);
        // (2 + 1 blocks) × 2 tiles × 4 stages.
        assert_eq!((graph.len(), config.task_count()), (24, 24));
        let preds: Vec<&[u32]> = graph[..12].iter().map(|t| &t.preds[..]).collect();
        let want: [&[u32]; 12] = [
            &[],
            &[0],
            &[1],
            &[2],
            &[],
            &[4],
            &[5],
            &[3, 6],
            &[],
            &[8],
            &[9],
            &[10],
        ];
        assert_eq!(preds, want);
        assert_eq!(graph[7].stage, Stage::Update);
        assert_eq!(graph[6].stage.core_type(), CoreType::Aic);
    }

    #[test]
    fn trace_reports_order_violations_and_repeats() {
        // The expected graph as built, each task's one word its id.
        let graph: Vec<BuiltTask> = expected_graph(&tiny(vec![4]))
            .into_iter()
            .enumerate()
            .map(|(id, t)| BuiltTask {
                func_id: t.stage.func_id(),
                core_type: t.stage.core_type(),
                args: vec![id as u64],
                preds: t.preds,
            })
            .collect();
        let trace = Trace::new(&graph);
        assert_eq!(trace.task(Stage::Softmax, &[1]), Some(1));
        assert_eq!(
            trace.task(Stage::Qk, &[1]),
            None,
            "stage and words identify a task"
        );
        trace.begin(1);
        trace.begin(0);
        trace.end(0);
        trace.begin(0);
        let report = trace.report();
        assert_eq!((report.tasks, report.exactly_once), (8, 1));
        assert_eq!(report.order_violations, 1);
        assert!(!report.ok());
        let first = report.first_problem.unwrap();
        assert_eq!(first, "task 1 started before predecessor 0 finished");

        let mut twins = graph.clone();
        twins[4].args = twins[0].args.clone();
        let report = Trace::new(&twins).report();
        assert_eq!(report.order_violations, 1);
        assert!(
            report
                .first_problem
                .unwrap()
                .starts_with("tasks 0 and 4 have the same")
        );
    }

    #[test]
    fn reference_of_a_single_token_is_its_value_row() {
        let problem = Problem::generate(tiny(vec![1]));
        let out = reference(&problem);
        let block = problem.block_table[0] as usize;
        let c = &problem.config;
        for h in 0..c.heads {
            let kv = h / (c.heads / c.kv_heads);
            let row = &problem.value_cache[(block * c.block_size * c.kv_heads + kv) * c.head_dim..];
            let want: Vec<f32> = row[..c.head_dim]
                .iter()
                .map(|&x| c.precision.decode(x))
                .collect();
            assert_eq!(&out[h * c.head_dim..][..c.head_dim], &want[..]);
        }
    }

    #[test]
    fn tiles_cover_one_kv_head_and_whole_blocks_round_up() {
        let config = tiny(vec![5, 4, 1]);
        assert_eq!(
            (config.group(), config.head_tile(), config.head_tiles()),
            (2, 2, 2)
        );
        let mqa = Config {
            kv_heads: 1,
            heads: 300,
            ..tiny(vec![1])
        };
        assert!(
            mqa.validate().is_err(),
            "300 heads do not split into tiles of 128"
        );
        let mqa = Config { heads: 256, ..mqa };
        assert_eq!((mqa.head_tile(), mqa.head_tiles()), (128, 2));
        assert_eq!(
            config.clone().whole_blocks().unwrap().context_lens,
            [8, 4, 4]
        );
        let limits = config.reference_limits().unwrap();
        assert!(
            limits.contains("2 KV heads")
                && limits.contains("bf16")
                && limits.contains("context 5"),
            "{limits}"
        );
        let reference_like = Config {
            kv_heads: 1,
            precision: Precision::F16,
            ..config
        }
        .whole_blocks()
        .unwrap();
        assert_eq!(reference_like.reference_limits(), None);
    }

    #[test]
    fn sizes_past_the_limits_or_past_i32_are_refused_by_field() {
        let field = |c: &Config| c.validate().map_err(|e| e.field);
        // Bytes: exactly what the tensors and the plugins' scratch take.
        let c = tiny(vec![5, 4, 1]);
        let (tile, dim, block) = (2, 8, 4);
        let blocks = 2 + 1 + 1;
        let host = 3 * 4 * 8 * 2 + 2 * (blocks + 3) * block * 2 * dim * 2 + 3 * 4 * 8 * 4;
        let copied = host;
        let table_and_lens = 3 * 2 * 4 + 3 * 4;
        let per_slot = tile * block * 6 + tile * (2 + dim) * 4;
        let scratch = blocks * 2 * per_slot + 3 * 2 * tile * (2 + dim) * 4;
        assert_eq!(c.bytes(), (host + table_and_lens + copied + scratch) as u64);
        assert_eq!(field(&c), Ok(()));
        // Too many tasks; too many bytes (one more head-dim element per
        // head at the limit's edge); sizes whose products overflow u64.
        let tasks = Config {
            block_size: 1,
            context_lens: vec![1 << 22, 1],
            ..c.clone()
        };
        assert_eq!(tasks.task_count() as u64, 4 * ((1 << 22) + 1) * 2);
        assert_eq!(field(&tasks), Err("shape"));
        let bytes = Config {
            head_dim: 1 << 28,
            ..c.clone()
        };
        assert!(bytes.bytes() > MAX_BYTES && bytes.task_count() < 100);
        assert_eq!(field(&bytes), Err("shape"));
        let huge = Config {
            heads: usize::MAX / 2 + 1,
            kv_heads: 1,
            head_dim: usize::MAX,
            ..c.clone()
        };
        // 4 tasks × 4 blocks × 2^56 tiles: exact; the bytes saturate.
        assert_eq!((huge.bytes(), huge.task_count()), (u64::MAX, 1 << 60));
        assert_eq!(field(&huge), Err("shape"));
        let huge = Config {
            heads: 128,
            kv_heads: 1,
            head_dim: usize::MAX,
            ..c.clone()
        };
        assert_eq!(huge.bytes(), u64::MAX);
        assert_eq!(field(&huge), Err("shape"));
        // Block ids past the i32 block table.
        let pool = Config {
            pool: BlockPool::Shared((1 << 31) + 1),
            ..c.clone()
        };
        assert_eq!(field(&pool), Err("shape"));
        let e = pool.validate().unwrap_err();
        assert!(e.why.contains("2147483649 KV blocks"), "{e}");
        // Rounding a context up to whole blocks past i32::MAX.
        let e = Config {
            block_size: 1 << 30,
            context_lens: vec![(1 << 30) + 1],
            ..c.clone()
        }
        .whole_blocks()
        .unwrap_err();
        assert_eq!(e.field, "context_lens");
        assert!(e.why.contains("context 1073741825"), "{e}");
        let e = Config { block_size: 0, ..c }.whole_blocks().unwrap_err();
        assert_eq!(e.field, "block_size");
    }

    #[test]
    #[should_panic(expected = "passes i32::MAX")]
    fn generated_contexts_past_i32_panic_instead_of_wrapping() {
        ragged_context_lens(4, 16, i32::MAX as usize + 1);
    }

    #[test]
    fn shared_pool_wraps_block_ids() {
        let config = Config::scaled(3, 300, Precision::F16);
        let problem = Problem::generate(Config {
            pool: BlockPool::Shared(4),
            ..config
        });
        assert_eq!(problem.block_table, [0, 1, 2, 3, 0, 1, 2, 3, 0]);
        assert_eq!(problem.num_blocks, 4);
    }
}
