/*
 * paged_attention orchestration: decode attention over a paged KV cache.
 *
 * Args (the reference runtime's; see examples/support/src/paged_attention.rs
 * for the full contract):
 *   tensors: 0 query [batch, heads, head_dim] (f16|bf16),
 *            1 key cache, 2 value cache [num_blocks, block_size, kv_heads, head_dim],
 *            3 block table [batch, max_blocks_per_seq] (i32),
 *            4 context lengths [batch] (i32), 5 out [batch * heads, head_dim] (f32);
 *   scalars: 0 softmax scale (f32 bits).
 *
 * Heads are tiled by KV head: a tile is the group of heads sharing one KV
 * head, at most 128. Per (sequence b, head tile, KV block j), in that order,
 * four tasks with the reference's argument words plus hostgraph's optional
 * ones (KV row stride and dtype; SF: valid positions and dtype), which lift
 * the reference kernels' limits to one KV head, f16 and whole blocks:
 *   QK_j (AIC, func 0: [qi, kj, sij, tile, head_dim, block_size, kv_stride, dtype])
 *   SF_j (AIV, func 1: [sij, scale, pij, mij, lij, tile, block_size, valid, dtype])
 *   PV_j (AIC, func 2: [pij, vj, oi_new, tile, block_size, head_dim, kv_stride, dtype])
 *   UP_j (AIV, func 3: [mij, lij, oi_new, mi, li, oi, is_first, is_last, out, tile, head_dim])
 * with QK_j -> SF_j -> PV_j -> UP_j and UP_{j-1} -> UP_j.
 */
#include <stddef.h>
#include <stdint.h>

#include "orchestration_api.h"

enum { FUNC_QK = 0, FUNC_SOFTMAX = 1, FUNC_PV = 2, FUNC_UPDATE = 3 };
enum { MAX_HEAD_TILE = 128 };
enum { T_QUERY, T_KEY, T_VALUE, T_BLOCK_TABLE, T_CONTEXT_LENS, T_OUT, NUM_TENSORS };
enum { S_SCALE, NUM_SCALARS };

#define CHECK(call)              \
    do {                         \
        int32_t rc_ = (call);    \
        if (rc_ < 0) return rc_; \
    } while (0)

/* Shapes read from the arguments. */
typedef struct Shape {
    uint64_t batch, heads, kv_heads, head_dim, num_blocks, block_size, max_blocks;
    uint64_t tile, tiles, group, dtype, scale_bits;
    const int32_t *block_table, *context_lens;
} Shape;

/* Device buffers: inputs, output, and the per-block / per-chain scratch. */
typedef struct Buffers {
    uint64_t q, k, v, out, scores, probs, stats, pv, state;
} Buffers;

/* Where the next chain's scratch starts. */
typedef struct Cursor {
    uint64_t slot;  /* KV blocks of all chains so far */
    uint64_t chain; /* chains so far */
} Cursor;

static uint64_t dev(void *p) { return (uint64_t)(uintptr_t)p; }

static int dims_are(const OrchTensor *t, uint32_t ndim, uint32_t dtype) {
    return t->ndim == ndim && t->dtype == dtype;
}

static uint64_t elem_size(uint64_t dtype) { return dtype == ORCH_DTYPE_F32 || dtype == ORCH_DTYPE_I32 ? 4 : 2; }

/* nbytes matches the shape and dtype. */
static int sized(const OrchTensor *t) {
    uint64_t n = elem_size(t->dtype);
    for (uint32_t i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n == t->nbytes && n > 0;
}

static int32_t read_tensors(const OrchTensor *ts, Shape *s) {
    const OrchTensor *q = &ts[T_QUERY], *k = &ts[T_KEY], *v = &ts[T_VALUE];
    const OrchTensor *bt = &ts[T_BLOCK_TABLE], *cl = &ts[T_CONTEXT_LENS], *out = &ts[T_OUT];
    s->dtype = q->dtype;
    if (s->dtype != ORCH_DTYPE_F16 && s->dtype != ORCH_DTYPE_BF16) return ORCH_ERR_OUT_OF_BOUNDS;
    if (!dims_are(q, 3, q->dtype) || !dims_are(k, 4, q->dtype) || !dims_are(v, 4, q->dtype) ||
        !dims_are(bt, 2, ORCH_DTYPE_I32) || !dims_are(cl, 1, ORCH_DTYPE_I32) || !dims_are(out, 2, ORCH_DTYPE_F32))
        return ORCH_ERR_OUT_OF_BOUNDS;
    for (int i = 0; i < NUM_TENSORS; i++)
        if (!sized(&ts[i])) return ORCH_ERR_OUT_OF_BOUNDS;
    s->batch = q->shape[0];
    s->heads = q->shape[1];
    s->head_dim = q->shape[2];
    s->num_blocks = k->shape[0];
    s->block_size = k->shape[1];
    s->kv_heads = k->shape[2];
    s->max_blocks = bt->shape[1];
    for (int i = 0; i < 4; i++)
        if (v->shape[i] != k->shape[i]) return ORCH_ERR_OUT_OF_BOUNDS;
    if (out->shape[0] != s->batch * s->heads || out->shape[1] != s->head_dim) return ORCH_ERR_OUT_OF_BOUNDS;
    if (k->shape[3] != s->head_dim || bt->shape[0] != s->batch || cl->shape[0] != s->batch)
        return ORCH_ERR_OUT_OF_BOUNDS;
    s->block_table = (const int32_t *)(uintptr_t)bt->addr;
    s->context_lens = (const int32_t *)(uintptr_t)cl->addr;
    return ORCH_OK;
}

static int32_t read_scalars(const uint64_t *scalars, Shape *s) {
    s->scale_bits = scalars[S_SCALE] & 0xFFFFFFFFu;
    if (s->heads % s->kv_heads != 0) return ORCH_ERR_OUT_OF_BOUNDS;
    s->group = s->heads / s->kv_heads;
    s->tile = s->group < MAX_HEAD_TILE ? s->group : MAX_HEAD_TILE;
    if (s->group % s->tile != 0) return ORCH_ERR_OUT_OF_BOUNDS;
    s->tiles = s->heads / s->tile;
    return ORCH_OK;
}

static uint64_t blocks_of(const Shape *s, uint64_t b) {
    return ((uint64_t)s->context_lens[b] + s->block_size - 1) / s->block_size;
}

/* Checks every context length and used block-table entry; counts the KV blocks. */
static int32_t check_sequences(const Shape *s, uint64_t *total_blocks) {
    *total_blocks = 0;
    for (uint64_t b = 0; b < s->batch; b++) {
        int32_t ctx = s->context_lens[b];
        if (ctx < 1 || (uint64_t)ctx > s->max_blocks * s->block_size) return ORCH_ERR_OUT_OF_BOUNDS;
        for (uint64_t j = 0; j < blocks_of(s, b); j++) {
            int32_t block = s->block_table[b * s->max_blocks + j];
            if (block < 0 || (uint64_t)block >= s->num_blocks) return ORCH_ERR_OUT_OF_BOUNDS;
        }
        *total_blocks += blocks_of(s, b);
    }
    return ORCH_OK;
}

static int32_t upload(OrchestrationRuntime *rt, const OrchTensor *t, uint64_t *out) {
    void *p = device_malloc(rt, t->nbytes);
    if (p == NULL) return ORCH_ERR_OUT_OF_MEMORY;
    *out = dev(p);
    return copy_to_device(rt, p, (const void *)(uintptr_t)t->addr, t->nbytes);
}

static int32_t scratch(OrchestrationRuntime *rt, uint64_t bytes, uint64_t *out) {
    void *p = device_malloc(rt, bytes);
    if (p == NULL) return ORCH_ERR_OUT_OF_MEMORY;
    *out = dev(p);
    return ORCH_OK;
}

static int32_t alloc_buffers(OrchestrationRuntime *rt, const OrchTensor *ts, const Shape *s, uint64_t total_blocks,
                             Buffers *buf) {
    uint64_t slots = total_blocks * s->tiles, chains = s->batch * s->tiles;
    uint64_t esz = elem_size(s->dtype);
    CHECK(upload(rt, &ts[T_QUERY], &buf->q));
    CHECK(upload(rt, &ts[T_KEY], &buf->k));
    CHECK(upload(rt, &ts[T_VALUE], &buf->v));
    uint64_t block = slots * s->tile * s->block_size;
    CHECK(scratch(rt, ts[T_OUT].nbytes, &buf->out));
    CHECK(record_tensor_pair(rt, (void *)(uintptr_t)ts[T_OUT].addr, (void *)(uintptr_t)buf->out, ts[T_OUT].nbytes));
    CHECK(scratch(rt, block * sizeof(float), &buf->scores));
    CHECK(scratch(rt, block * esz, &buf->probs));
    CHECK(scratch(rt, slots * 2 * s->tile * sizeof(float), &buf->stats));
    CHECK(scratch(rt, slots * s->tile * s->head_dim * sizeof(float), &buf->pv));
    CHECK(scratch(rt, chains * (2 * s->tile + s->tile * s->head_dim) * sizeof(float), &buf->state));
    return ORCH_OK;
}

/* Adds QK_j, SF_j, PV_j, UP_j of one block and their edges; returns UP_j. */
static int32_t add_block(OrchestrationRuntime *rt, const Shape *s, const Buffers *buf, uint64_t b, uint64_t tile,
                         uint64_t j, uint64_t slot, uint64_t chain, int32_t prev_update) {
    uint64_t t = s->tile, dim = s->head_dim, bs = s->block_size, esz = elem_size(s->dtype);
    uint64_t head0 = tile * t, kv = head0 / s->group, kv_stride = s->kv_heads * dim;
    uint64_t block = (uint64_t)s->block_table[b * s->max_blocks + j];
    uint64_t ctx = (uint64_t)s->context_lens[b], rest = ctx - j * bs;
    uint64_t valid = rest < bs ? rest : bs;
    uint64_t is_first = j == 0, is_last = j + 1 == blocks_of(s, b);
    uint64_t qi = buf->q + (b * s->heads + head0) * dim * esz;
    uint64_t out = buf->out + (b * s->heads + head0) * dim * sizeof(float);
    uint64_t kj = buf->k + (block * bs * s->kv_heads + kv) * dim * esz;
    uint64_t vj = buf->v + (block * bs * s->kv_heads + kv) * dim * esz;
    uint64_t sij = buf->scores + slot * t * bs * sizeof(float);
    uint64_t pij = buf->probs + slot * t * bs * esz;
    uint64_t mij = buf->stats + slot * 2 * t * sizeof(float), lij = mij + t * sizeof(float);
    uint64_t oi_new = buf->pv + slot * t * dim * sizeof(float);
    uint64_t mi = buf->state + chain * (2 * t + t * dim) * sizeof(float);
    uint64_t li = mi + t * sizeof(float), oi = li + t * sizeof(float);

    uint64_t qk_args[] = {qi, kj, sij, t, dim, bs, kv_stride, s->dtype};
    uint64_t sf_args[] = {sij, s->scale_bits, pij, mij, lij, t, bs, valid, s->dtype};
    uint64_t pv_args[] = {pij, vj, oi_new, t, bs, dim, kv_stride, s->dtype};
    uint64_t up_args[] = {mij, lij, oi_new, mi, li, oi, is_first, is_last, out, t, dim};
    int32_t qk = add_task(rt, qk_args, 8, FUNC_QK, CORE_TYPE_AIC);
    CHECK(qk);
    int32_t sf = add_task(rt, sf_args, 9, FUNC_SOFTMAX, CORE_TYPE_AIV);
    CHECK(sf);
    int32_t pv = add_task(rt, pv_args, 8, FUNC_PV, CORE_TYPE_AIC);
    CHECK(pv);
    int32_t up = add_task(rt, up_args, 11, FUNC_UPDATE, CORE_TYPE_AIV);
    CHECK(up);
    CHECK(add_successor(rt, qk, sf));
    CHECK(add_successor(rt, sf, pv));
    CHECK(add_successor(rt, pv, up));
    if (prev_update >= 0) CHECK(add_successor(rt, prev_update, up));
    return up;
}

/* The task chain of one (sequence, head tile). */
static int32_t add_chain(OrchestrationRuntime *rt, const Shape *s, const Buffers *buf, uint64_t b, uint64_t tile,
                         Cursor *at) {
    int32_t prev_update = -1;
    for (uint64_t j = 0; j < blocks_of(s, b); j++) {
        prev_update = add_block(rt, s, buf, b, tile, j, at->slot++, at->chain, prev_update);
        CHECK(prev_update);
    }
    at->chain++;
    return ORCH_OK;
}

int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    if (args == NULL || args->tensors == NULL || args->scalars == NULL) return ORCH_ERR_NULL_ARGUMENT;
    if (args->num_tensors != NUM_TENSORS || args->num_scalars != NUM_SCALARS) return ORCH_ERR_OUT_OF_BOUNDS;
    Shape s;
    uint64_t total_blocks;
    Buffers buf;
    Cursor at = {0, 0};
    CHECK(read_tensors(args->tensors, &s));
    CHECK(read_scalars(args->scalars, &s));
    CHECK(check_sequences(&s, &total_blocks));
    CHECK(alloc_buffers(rt, args->tensors, &s, total_blocks, &buf));
    for (uint64_t b = 0; b < s.batch; b++)
        for (uint64_t tile = 0; tile < s.tiles; tile++) CHECK(add_chain(rt, &s, &buf, b, tile, &at));
    return ORCH_OK;
}
