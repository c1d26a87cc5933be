//! paged_attention's orchestration in Rust: the same graph as
//! `examples/orch/paged_attention.c`, through the safe facade.
//!
//! Tensors (the reference runtime's): `0` query `[batch, heads, head_dim]`
//! (f16|bf16), `1` key cache and `2` value cache `[num_blocks, block_size,
//! kv_heads, head_dim]`, `3` block table `[batch, max_blocks_per_seq]`
//! (i32), `4` context lengths `[batch]` (i32), `5` out `[batch · heads,
//! head_dim]` (f32). Scalar `0`: the softmax scale (f32 bits).
//!
//! Heads are tiled by KV head (a tile: the heads sharing one KV head, at
//! most 128). Per (sequence, head tile, KV block), in that order: QK (AIC)
//! → SF (AIV) → PV (AIC) → UP (AIV), and UP of the previous block → UP,
//! with the reference's argument words plus hostgraph's optional ones (KV
//! row stride and dtype; SF: valid positions and dtype).

use hostgraph_orch_abi::{
    ArgsView, CoreType, DType, DevicePtr, OrchError, OrchStatus, OrchTensor, Orchestrator, TaskId,
    export_orchestration,
};

const FUNC_QK: i32 = 0;
const FUNC_SOFTMAX: i32 = 1;
const FUNC_PV: i32 = 2;
const FUNC_UPDATE: i32 = 3;
const MAX_HEAD_TILE: u64 = 128;
const F32: u64 = 4;

fn bad(what: &'static str) -> OrchError {
    OrchError::new(what, OrchStatus::OutOfBounds)
}

/// Shapes and host tables read from the arguments.
struct Shape<'a> {
    batch: u64,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    num_blocks: u64,
    block_size: u64,
    max_blocks: u64,
    tile: u64,
    group: u64,
    dtype: DType,
    scale_bits: u64,
    block_table: &'a [i32],
    context_lens: &'a [i32],
}

/// `t` has `ndim` dims of `dtype` and a byte size matching them.
fn check_tensor(t: &OrchTensor, ndim: usize, dtype: DType) -> Result<(), OrchError> {
    let bytes = t.numel().checked_mul(dtype.size_bytes() as u64);
    if t.dims().len() != ndim
        || t.dtype() != Some(dtype)
        || bytes != Some(t.nbytes)
        || t.nbytes == 0
    {
        return Err(bad("paged_attention: tensor shape or dtype"));
    }
    Ok(())
}

impl<'a> Shape<'a> {
    fn read(args: &ArgsView<'a>) -> Result<Shape<'a>, OrchError> {
        if args.tensors().len() != 6 || args.scalars().len() != 1 {
            return Err(bad("paged_attention: argument count"));
        }
        let [q, k, v, bt, cl, out] = std::array::from_fn(|i| &args.tensors()[i]);
        let dtype = q.dtype().filter(|d| matches!(d, DType::F16 | DType::BF16));
        let dtype = dtype.ok_or(bad("paged_attention: query dtype"))?;
        for (t, ndim, dt) in [(q, 3, dtype), (k, 4, dtype), (v, 4, dtype)] {
            check_tensor(t, ndim, dt)?;
        }
        check_tensor(bt, 2, DType::I32)?;
        check_tensor(cl, 1, DType::I32)?;
        check_tensor(out, 2, DType::F32)?;
        let (qd, kd) = (q.dims(), k.dims());
        let (batch, heads, head_dim) = (qd[0], qd[1], qd[2]);
        if v.dims() != kd || out.dims() != [batch * heads, head_dim] || kd[3] != head_dim {
            return Err(bad("paged_attention: q/k/v/out shapes"));
        }
        if bt.dims()[0] != batch || cl.dims() != [batch] {
            return Err(bad("paged_attention: block table / context shapes"));
        }
        let kv_heads = kd[2];
        if !heads.is_multiple_of(kv_heads) {
            return Err(bad("paged_attention: kv heads"));
        }
        let group = heads / kv_heads;
        let tile = group.min(MAX_HEAD_TILE);
        if !group.is_multiple_of(tile) {
            return Err(bad("paged_attention: head tile"));
        }
        Ok(Shape {
            batch,
            heads,
            kv_heads,
            head_dim,
            num_blocks: kd[0],
            block_size: kd[1],
            max_blocks: bt.dims()[1],
            tile,
            group,
            dtype,
            scale_bits: args.scalar(0)? & 0xFFFF_FFFF,
            // SAFETY: the host passes valid i32 tensors (checked above) for
            // the entry call, which this plugin only reads.
            block_table: unsafe { bt.host_slice::<i32>() },
            // SAFETY: as above.
            context_lens: unsafe { cl.host_slice::<i32>() },
        })
    }

    fn tiles(&self) -> u64 {
        self.heads / self.tile
    }

    fn elem(&self) -> u64 {
        self.dtype.size_bytes() as u64
    }

    fn blocks_of(&self, b: u64) -> u64 {
        (self.context_lens[b as usize] as u64).div_ceil(self.block_size)
    }

    /// Checks every context length and used block-table entry; returns the
    /// number of KV blocks over all sequences.
    fn check_sequences(&self) -> Result<u64, OrchError> {
        let mut total = 0;
        for b in 0..self.batch {
            let ctx = self.context_lens[b as usize];
            if ctx < 1 || ctx as u64 > self.max_blocks * self.block_size {
                return Err(bad("paged_attention: context length"));
            }
            for j in 0..self.blocks_of(b) {
                let block = self.block_table[(b * self.max_blocks + j) as usize];
                if block < 0 || block as u64 >= self.num_blocks {
                    return Err(bad("paged_attention: block table entry"));
                }
            }
            total += self.blocks_of(b);
        }
        Ok(total)
    }
}

/// Device buffers: inputs, output, per-block and per-chain scratch.
struct Buffers {
    q: DevicePtr,
    k: DevicePtr,
    v: DevicePtr,
    out: DevicePtr,
    scores: DevicePtr,
    probs: DevicePtr,
    stats: DevicePtr,
    pv: DevicePtr,
    state: DevicePtr,
}

fn upload(rt: &mut Orchestrator<'_>, t: &OrchTensor) -> Result<DevicePtr, OrchError> {
    // SAFETY: the host passes tensor data valid for `nbytes` bytes during
    // the entry call; it is only read here.
    rt.upload(unsafe { t.host_slice::<u8>() })
}

impl Buffers {
    fn alloc(
        rt: &mut Orchestrator<'_>,
        args: &ArgsView<'_>,
        s: &Shape<'_>,
        total_blocks: u64,
    ) -> Result<Buffers, OrchError> {
        let ts = args.tensors();
        let (slots, chains) = (total_blocks * s.tiles(), s.batch * s.tiles());
        let (q, k, v) = (
            upload(rt, &ts[0])?,
            upload(rt, &ts[1])?,
            upload(rt, &ts[2])?,
        );
        let out = rt.device_malloc(ts[5].nbytes)?;
        // SAFETY: the host keeps the output tensor alive and untouched until
        // finalize (the plugin contract for output tensors).
        unsafe { rt.record_tensor_pair(ts[5].addr as *mut u8, out, ts[5].nbytes)? };
        let block = slots * s.tile * s.block_size;
        Ok(Buffers {
            q,
            k,
            v,
            out,
            scores: rt.device_malloc(block * F32)?,
            probs: rt.device_malloc(block * s.elem())?,
            stats: rt.device_malloc(slots * 2 * s.tile * F32)?,
            pv: rt.device_malloc(slots * s.tile * s.head_dim * F32)?,
            state: rt.device_malloc(chains * (2 * s.tile + s.tile * s.head_dim) * F32)?,
        })
    }
}

/// Where one KV block of one chain sits.
struct Block {
    b: u64,
    tile: u64,
    j: u64,
    slot: u64,
    chain: u64,
}

/// Adds QK_j, SF_j, PV_j, UP_j of one block and their edges; returns UP_j.
fn add_block(
    rt: &mut Orchestrator<'_>,
    s: &Shape<'_>,
    buf: &Buffers,
    at: &Block,
    prev_update: Option<TaskId>,
) -> Result<TaskId, OrchError> {
    let (t, dim, bs, esz) = (s.tile, s.head_dim, s.block_size, s.elem());
    let head0 = at.tile * t;
    let (kv, kv_stride) = (head0 / s.group, s.kv_heads * dim);
    let block = s.block_table[(at.b * s.max_blocks + at.j) as usize] as u64;
    let ctx = s.context_lens[at.b as usize] as u64;
    let valid = (ctx - at.j * bs).min(bs);
    let is_first = u64::from(at.j == 0);
    let is_last = u64::from(at.j + 1 == s.blocks_of(at.b));
    let row = at.b * s.heads + head0;
    let qi = buf.q.offset(row * dim * esz).as_arg();
    let out = buf.out.offset(row * dim * F32).as_arg();
    let kv_row = (block * bs * s.kv_heads + kv) * dim * esz;
    let (kj, vj) = (buf.k.offset(kv_row).as_arg(), buf.v.offset(kv_row).as_arg());
    let sij = buf.scores.offset(at.slot * t * bs * F32).as_arg();
    let pij = buf.probs.offset(at.slot * t * bs * esz).as_arg();
    let mij = buf.stats.offset(at.slot * 2 * t * F32);
    let lij = mij.offset(t * F32).as_arg();
    let mij = mij.as_arg();
    let oi_new = buf.pv.offset(at.slot * t * dim * F32).as_arg();
    let mi = buf.state.offset(at.chain * (2 * t + t * dim) * F32);
    let (li, oi) = (mi.offset(t * F32).as_arg(), mi.offset(2 * t * F32).as_arg());
    let mi = mi.as_arg();
    let dtype = u64::from(s.dtype.code());

    let qk = rt.add_task(
        &[qi, kj, sij, t, dim, bs, kv_stride, dtype],
        FUNC_QK,
        CoreType::Aic,
    )?;
    let sf = rt.add_task(
        &[sij, s.scale_bits, pij, mij, lij, t, bs, valid, dtype],
        FUNC_SOFTMAX,
        CoreType::Aiv,
    )?;
    let pv = rt.add_task(
        &[pij, vj, oi_new, t, bs, dim, kv_stride, dtype],
        FUNC_PV,
        CoreType::Aic,
    )?;
    let up = rt.add_task(
        &[mij, lij, oi_new, mi, li, oi, is_first, is_last, out, t, dim],
        FUNC_UPDATE,
        CoreType::Aiv,
    )?;
    rt.add_successor(qk, sf)?;
    rt.add_successor(sf, pv)?;
    rt.add_successor(pv, up)?;
    if let Some(prev) = prev_update {
        rt.add_successor(prev, up)?;
    }
    Ok(up)
}

fn build(rt: &mut Orchestrator<'_>, args: &ArgsView<'_>) -> Result<(), OrchError> {
    let s = Shape::read(args)?;
    let total_blocks = s.check_sequences()?;
    let buf = Buffers::alloc(rt, args, &s, total_blocks)?;
    let (mut slot, mut chain) = (0, 0);
    for b in 0..s.batch {
        for tile in 0..s.tiles() {
            let mut prev_update = None;
            for j in 0..s.blocks_of(b) {
                let at = Block {
                    b,
                    tile,
                    j,
                    slot,
                    chain,
                };
                prev_update = Some(add_block(rt, &s, &buf, &at, prev_update)?);
                slot += 1;
            }
            chain += 1;
        }
    }
    Ok(())
}

export_orchestration!(build);
