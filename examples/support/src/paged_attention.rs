//! paged_attention: decode-style attention over a paged KV cache, as the
//! orchestration plugins `examples/orch/paged_attention.c` and
//! `examples/orch_rs/paged_attention` build it.
//!
//! Every sequence `b` has one query token per head and a context of
//! `context_lens[b]` cached tokens whose keys and values sit in fixed-size
//! blocks of a shared cache, in the order given by its row of the block
//! table. The heads are split into tiles of `head_tile` heads; per
//! (sequence, head tile) the plugin builds one chain of four tasks per KV
//! block `j`:
//!
//! - `QK_j` (AIC): `S_j = q · K_jᵀ · scale`, `[tile, block_size]`;
//! - `SF_j` (AIV): row maxima `m_j`, `P_j = exp(S_j - m_j)` in place of
//!   `S_j` (zero past the context) and row sums `l_j`;
//! - `PV_j` (AIC): `O_j = P_j · V_j`, `[tile, head_dim]`;
//! - `UP_j` (AIV): merges `(m_j, l_j, O_j)` into the chain's running
//!   `(m, l, acc)` (online softmax); the last one writes `out = acc / l`,
//!
//! with the edges `QK_j → SF_j → PV_j → UP_j` and `UP_{j-1} → UP_j`. A
//! chain's tasks are added together, block by block, chains in (sequence,
//! tile) order, so the graph holds `4 × Σ_b ceil(ctx_b / block_size) ×
//! head_tiles` tasks and its shape is known in advance ([`expected_graph`]).
//!
//! # Plugin arguments
//!
//! Tensors: `0` query `[batch, heads, head_dim]` (f16 or bf16), `1` key
//! cache and `2` value cache `[num_blocks, block_size, kv_heads, head_dim]`
//! (the query's dtype), `3` block table `[batch, max_blocks_per_seq]` (i32),
//! `4` context lengths `[batch]` (i32, each in `1..=max_blocks_per_seq ×
//! block_size`), `5` output `[batch, heads, head_dim]` (f32, copied back at
//! finalize). Scalars: `0` heads per tile, `1` the softmax scale (f32 bits).
//! Query heads share key/value heads in groups of `heads / kv_heads` (GQA).
//!
//! # Kernel argument words
//!
//! Every task gets its own task id as its last word (the plugins read the
//! task count before each `add_task`), which the traced kernels use.
//!
//! - QK: `[q, k_block, scores, tile, head0, group, kv_heads, head_dim, block_size, scale bits, dtype, task]`
//! - SF: `[scores, stats, tile, block_size, valid, task]`
//! - PV: `[probs, v_block, o, tile, head0, group, kv_heads, head_dim, block_size, valid, dtype, task]`
//! - UP: `[stats, o, state, out, tile, head_dim, flags, task]`
//!
//! `q` and `out` point at the tile's first head, `k_block` / `v_block` at
//! the physical block, `valid` is how many of the block's positions lie in
//! the context, `stats` holds `m_j` then `l_j` (`tile` f32 each), `state`
//! holds the chain's `m`, `l` (`tile` each) and `acc` (`tile × head_dim`),
//! and `flags` is [`FLAG_FIRST`] | [`FLAG_LAST`] for the chain's first and
//! last block. `dtype` is the `OrchDType` code of q/k/v.

use crate::rng::SplitMix64;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use half::{bf16, f16};
use hostgraph::{Error, KernelFn, OwnedArgs, Plugin, RunReport, Runtime};
use hostgraph_orch_abi::{CoreType, DType, OrchTensor};

/// func_id of the QK matmul (AIC).
pub const FUNC_QK: i32 = 0;
/// func_id of the softmax prepare (AIV).
pub const FUNC_SOFTMAX: i32 = 1;
/// func_id of the PV matmul (AIC).
pub const FUNC_PV: i32 = 2;
/// func_id of the online-softmax update (AIV).
pub const FUNC_UPDATE: i32 = 3;
/// Update flag: the chain's first block (initialises the running state).
pub const FLAG_FIRST: u64 = 1;
/// Update flag: the chain's last block (writes `out = acc / l`).
pub const FLAG_LAST: u64 = 2;
/// Largest allowed `|out - reference|`.
pub const TOLERANCE: f64 = 1e-2;

/// The element type of query, keys and values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// IEEE half precision.
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
    /// Heads per task chain (divides `heads`).
    pub head_tile: usize,
    /// Context length of each sequence (the batch is its length).
    pub context_lens: Vec<i32>,
    /// Physical block assignment.
    pub pool: BlockPool,
    /// Element type of q/k/v.
    pub precision: Precision,
    /// Seed of the generated data.
    pub seed: u64,
}

impl Config {
    /// A small case for numerics: `batch` sequences with
    /// [`ragged_context_lens`] up to `max_context`, 16 heads in tiles of 8,
    /// head dim 32, block 16.
    pub fn small(batch: usize, max_context: usize, precision: Precision) -> Config {
        Config {
            heads: 16,
            kv_heads: 16,
            head_dim: 32,
            block_size: 16,
            head_tile: 8,
            context_lens: ragged_context_lens(batch, 16, max_context),
            pool: BlockPool::Distinct,
            precision,
            seed: 0x5eed,
        }
    }

    /// The scale case at `batch` sequences of `context` tokens: block 128,
    /// one head tile of 2 heads, head dim 16, blocks shared from a pool of
    /// 512. `scaled(256, 8100, ..)` is the reference runtime's large test
    /// size: 256 × 64 × 4 = 65,536 tasks.
    pub fn scaled(batch: usize, context: i32, precision: Precision) -> Config {
        Config {
            heads: 2,
            kv_heads: 2,
            head_dim: 16,
            block_size: 128,
            head_tile: 2,
            context_lens: vec![context; batch],
            pool: BlockPool::Shared(512),
            precision,
            seed: 0x5ca1e,
        }
    }

    /// Sequences.
    pub fn batch(&self) -> usize {
        self.context_lens.len()
    }

    /// Head tiles (task chains per sequence).
    pub fn head_tiles(&self) -> usize {
        self.heads / self.head_tile
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

    /// Tasks the graph holds: `4 × Σ ceil(ctx / block_size) × head_tiles`.
    pub fn task_count(&self) -> usize {
        let blocks: usize = (0..self.batch()).map(|b| self.blocks_of(b)).sum();
        4 * blocks * self.head_tiles()
    }

    /// Checks the shape: positive sizes, tiles and KV heads dividing the
    /// heads, every context length at least 1.
    pub fn validate(&self) -> Result<(), String> {
        let sizes = [
            self.heads,
            self.kv_heads,
            self.head_dim,
            self.block_size,
            self.head_tile,
            self.batch(),
        ];
        if sizes.contains(&0) {
            return Err(format!("zero size in {self:?}"));
        }
        if !self.heads.is_multiple_of(self.kv_heads) || !self.heads.is_multiple_of(self.head_tile) {
            return Err(format!(
                "kv heads {} and head tile {} must divide heads {}",
                self.kv_heads, self.head_tile, self.heads
            ));
        }
        if let Some(ctx) = self.context_lens.iter().find(|&&c| c < 1) {
            return Err(format!("context length {ctx} < 1"));
        }
        if let BlockPool::Shared(0) = self.pool {
            return Err("empty block pool".into());
        }
        Ok(())
    }
}

/// `batch` deterministic ragged context lengths in `1..=max_context`: the
/// first four are two blocks (an exact multiple of the block when
/// `max_context` allows), half a block (shorter than one block),
/// `max_context` and a single token; the rest spread over the range.
pub fn ragged_context_lens(batch: usize, block_size: usize, max_context: usize) -> Vec<i32> {
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

    /// Elements of the output `[batch, heads, head_dim]`.
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
            &[batch, heads, dim],
            DType::F32,
        ))
        .push_scalar(c.head_tile as u64)
        .push_scalar(u64::from(c.scale().to_bits()));
        args
    }
}

/// The block table of `config` and the number of physical blocks.
fn block_table(config: &Config, rng: &mut SplitMix64) -> (Vec<i32>, usize) {
    let max_blocks = config.max_blocks_per_seq();
    let used: usize = (0..config.batch()).map(|b| config.blocks_of(b)).sum();
    let (num_blocks, physical) = match config.pool {
        BlockPool::Distinct => {
            let num_blocks = used + 3;
            let mut perm: Vec<usize> = (0..num_blocks).collect();
            for i in (1..num_blocks).rev() {
                perm.swap(i, rng.below(i + 1));
            }
            (num_blocks, perm)
        }
        BlockPool::Shared(pool) => (pool, Vec::new()),
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

/// The head geometry QK and PV share: argument words 3..9.
struct Heads {
    tile: usize,
    head0: usize,
    group: usize,
    kv_heads: usize,
    head_dim: usize,
    block_size: usize,
}

impl Heads {
    fn from_words(w: &[u64]) -> Heads {
        let [tile, head0, group, kv_heads, head_dim, block_size] =
            std::array::from_fn(|i| w[3 + i] as usize);
        Heads {
            tile,
            head0,
            group,
            kv_heads,
            head_dim,
            block_size,
        }
    }

    /// Elements of one cache block.
    fn block_len(&self) -> usize {
        self.block_size * self.kv_heads * self.head_dim
    }

    /// Offset in a cache block of position `pos` for the tile's head `i`.
    fn kv_row(&self, pos: usize, i: usize) -> usize {
        let kv = (self.head0 + i) / self.group;
        (pos * self.kv_heads + kv) * self.head_dim
    }
}

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

fn precision_word(word: u64) -> Precision {
    Precision::from_code(word).unwrap_or_else(|| panic!("paged_attention: bad dtype {word}"))
}

/// QK (AIC): `scores[i, p] = q_i · k[p, kv(i)] · scale` over the whole block.
fn qk(args: &[u64]) {
    let h = Heads::from_words(args);
    let scale = f32::from_bits(args[9] as u32);
    let prec = precision_word(args[10]);
    // SAFETY: the plugins pass q (tile × head_dim), the key block and the
    // scores (tile × block_size), which only this task writes.
    let (q, k, s) = unsafe {
        (
            dev::<u16>(args[0], h.tile * h.head_dim),
            dev::<u16>(args[1], h.block_len()),
            dev_mut::<f32>(args[2], h.tile * h.block_size),
        )
    };
    let q: Vec<f32> = q.iter().map(|&x| prec.decode(x)).collect();
    for (i, row) in s.chunks_exact_mut(h.block_size).enumerate() {
        let qi = &q[i * h.head_dim..][..h.head_dim];
        for (pos, out) in row.iter_mut().enumerate() {
            let ki = &k[h.kv_row(pos, i)..][..h.head_dim];
            let dot: f32 = qi.iter().zip(ki).map(|(a, &b)| a * prec.decode(b)).sum();
            *out = dot * scale;
        }
    }
}

/// SF (AIV): per row, `m = max(S[..valid])`, `P = exp(S - m)` (0 past
/// `valid`) in place, `l = Σ P`; `stats = [m.., l..]`.
fn softmax_prepare(args: &[u64]) {
    let (tile, block, valid) = (args[2] as usize, args[3] as usize, args[4] as usize);
    // SAFETY: the plugins pass this block's scores (tile × block_size) and
    // stats (2 × tile), which only this task accesses now.
    let (s, stats) = unsafe {
        (
            dev_mut::<f32>(args[0], tile * block),
            dev_mut::<f32>(args[1], 2 * tile),
        )
    };
    for (i, row) in s.chunks_exact_mut(block).enumerate() {
        let (live, masked) = row.split_at_mut(valid);
        let m = live.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut l = 0.0;
        for x in live.iter_mut() {
            *x = (*x - m).exp();
            l += *x;
        }
        masked.fill(0.0);
        stats[i] = m;
        stats[tile + i] = l;
    }
}

/// PV (AIC): `o[i] = Σ_{p < valid} P[i, p] · v[p, kv(i)]`.
fn pv(args: &[u64]) {
    let h = Heads::from_words(args);
    let valid = args[9] as usize;
    let prec = precision_word(args[10]);
    // SAFETY: the plugins pass the probabilities (tile × block_size), the
    // value block and this block's o (tile × head_dim), which only this
    // task writes.
    let (p, v, o) = unsafe {
        (
            dev::<f32>(args[0], h.tile * h.block_size),
            dev::<u16>(args[1], h.block_len()),
            dev_mut::<f32>(args[2], h.tile * h.head_dim),
        )
    };
    for (i, oi) in o.chunks_exact_mut(h.head_dim).enumerate() {
        oi.fill(0.0);
        for (pos, &w) in p[i * h.block_size..][..valid].iter().enumerate() {
            let vi = &v[h.kv_row(pos, i)..][..h.head_dim];
            for (acc, &x) in oi.iter_mut().zip(vi) {
                *acc += w * prec.decode(x);
            }
        }
    }
}

/// UP (AIV): online-softmax merge of `(m_j, l_j, O_j)` into the running
/// `(m, l, acc)`; the chain's last block writes `out = acc / l`.
fn update(args: &[u64]) {
    let (tile, dim, flags) = (args[4] as usize, args[5] as usize, args[6]);
    // SAFETY: the plugins pass this block's stats (2 × tile) and o
    // (tile × head_dim), the chain's state (2 × tile + tile × head_dim)
    // and its slice of out (tile × head_dim); the update chain's edges
    // serialize every access to the state and out.
    let (stats, o, state, out) = unsafe {
        (
            dev::<f32>(args[0], 2 * tile),
            dev::<f32>(args[1], tile * dim),
            dev_mut::<f32>(args[2], 2 * tile + tile * dim),
            dev_mut::<f32>(args[3], tile * dim),
        )
    };
    let (m, rest) = state.split_at_mut(tile);
    let (l, acc) = rest.split_at_mut(tile);
    for i in 0..tile {
        let (acc_i, o_i) = (&mut acc[i * dim..][..dim], &o[i * dim..][..dim]);
        let (mj, lj) = (stats[i], stats[tile + i]);
        if flags & FLAG_FIRST != 0 {
            (m[i], l[i]) = (mj, lj);
            acc_i.copy_from_slice(o_i);
        } else {
            let m_new = m[i].max(mj);
            let (a, b) = ((m[i] - m_new).exp(), (mj - m_new).exp());
            (m[i], l[i]) = (m_new, l[i] * a + lj * b);
            for (x, &y) in acc_i.iter_mut().zip(o_i) {
                *x = *x * a + y * b;
            }
        }
        if flags & FLAG_LAST != 0 {
            for (y, &x) in out[i * dim..][..dim].iter_mut().zip(acc_i.iter()) {
                *y = x / l[i];
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

/// Per task: how often it ran, whether it finished, what it waits for.
struct Trace {
    preds: Vec<Vec<u32>>,
    runs: Vec<AtomicU32>,
    done: Vec<AtomicBool>,
    violations: AtomicUsize,
    first_violation: Mutex<Option<String>>,
}

impl Trace {
    fn new(expected: &[ExpectedTask]) -> Trace {
        Trace {
            preds: expected.iter().map(|t| t.preds.clone()).collect(),
            runs: expected.iter().map(|_| AtomicU32::new(0)).collect(),
            done: expected.iter().map(|_| AtomicBool::new(false)).collect(),
            violations: AtomicUsize::new(0),
            first_violation: Mutex::new(None),
        }
    }

    fn violate(&self, what: String) {
        self.violations.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first_violation
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(what);
    }

    /// Start mark: counts the run, checks every predecessor finished.
    fn begin(&self, task: usize) {
        let Some(runs) = self.runs.get(task) else {
            return self.violate(format!("task {task} is not in the expected graph"));
        };
        runs.fetch_add(1, Ordering::Relaxed);
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
        if let Some(done) = self.done.get(task) {
            done.store(true, Ordering::Release);
        }
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
    /// Tasks of the expected graph.
    pub tasks: usize,
    /// Tasks that ran exactly once.
    pub exactly_once: usize,
    /// Starts before a predecessor had finished (plus unknown task ids).
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
    fn install(expected: &[ExpectedTask]) -> TraceSession {
        let exclusive = EXCLUSIVE.lock().unwrap_or_else(|p| p.into_inner());
        let trace = Arc::new(Trace::new(expected));
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
/// task whose id is the last argument word.
fn traced(args: &[u64], kernel: fn(&[u64])) {
    let active = ACTIVE.read().unwrap_or_else(|p| p.into_inner());
    let trace = active.as_ref().expect("traced kernel ran without a trace");
    let task = *args.last().expect("task id word") as usize;
    trace.begin(task);
    kernel(args);
    trace.end(task);
}

fn traced_qk(args: &[u64]) {
    traced(args, qk);
}

fn traced_softmax(args: &[u64]) {
    traced(args, softmax_prepare);
}

fn traced_pv(args: &[u64]) {
    traced(args, pv);
}

fn traced_update(args: &[u64]) {
    traced(args, update);
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
pub fn register_kernels<E: hostgraph::Executor>(rt: &mut Runtime<E>, kernels: Kernels) {
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
    /// The output `[batch, heads, head_dim]`.
    pub out: Vec<f32>,
    /// The run's report.
    pub report: RunReport,
    /// The trace's verdict ([`Kernels::Traced`] only).
    pub trace: Option<TraceReport>,
}

/// One round: register kernels, build with `plugin` over `problem`, run,
/// finalize. With [`Kernels::Traced`] the run is checked against
/// [`expected_graph`] (traced rounds of the whole process run one at a time).
pub fn run_round<E: hostgraph::Executor>(
    rt: &mut Runtime<E>,
    plugin: &Plugin,
    problem: &Problem,
    kernels: Kernels,
) -> Result<Round, Error> {
    let session = match kernels {
        Kernels::Plain => None,
        Kernels::Traced => Some(TraceSession::install(&expected_graph(&problem.config))),
    };
    let mut out = vec![0.0f32; problem.out_len()];
    let args = problem.args(&mut out);
    register_kernels(rt, kernels);
    // SAFETY: the plugins record `out` as the only tensor pair, and `out`
    // is neither moved nor touched until the round has finalized.
    let report = unsafe { crate::plugins::build_run_finalize(rt, plugin, &args)? };
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
            head_tile: 2,
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
        let trace = Trace::new(&expected_graph(&tiny(vec![4])));
        trace.begin(1);
        trace.begin(0);
        trace.end(0);
        trace.begin(0);
        trace.begin(99);
        let report = trace.report();
        assert_eq!((report.tasks, report.exactly_once), (8, 1));
        assert_eq!(report.order_violations, 2);
        assert!(!report.ok());
        let first = report.first_problem.unwrap();
        assert_eq!(first, "task 1 started before predecessor 0 finished");
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
