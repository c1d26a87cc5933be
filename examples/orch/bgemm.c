/*
 * bgemm orchestration: C += A·B in tiles.
 *
 * Args (the reference runtime's conventions): tensors A, B, C (f32), each
 * tile-major [batch, grid rows, grid columns, tile rows, tile columns] with
 * contiguous row-major tiles: A [batch, M, K, TM, TK], B [batch, K, N, TK,
 * TN], C [batch, M, N, TM, TN] (grids M, K, N). C is uploaded, accumulated
 * into and recorded for copy-back.
 *
 * Per output tile (b, m, n) one partial-product buffer P (f32, TM×TN) is
 * allocated and reused by the tile's K steps k = 0 .. K-1:
 *   gemm_k (AIC, func 0: [A(b,m,k), B(b,k,n), P, TM, TK, TN]): P = A(b,m,k)·B(b,k,n)
 *   add_k  (AIV, func 1: [C(b,m,n), P, C(b,m,n), TM, TN]):     C(b,m,n) += P
 * chained gemm_0 -> add_0 -> gemm_1 -> add_1 -> ...: add_k reads P after
 * gemm_k wrote it, and gemm_{k+1} overwrites it only after add_k read it.
 *
 * Returns ORCH_ERR_NULL_ARGUMENT for a wrong tensor count and
 * ORCH_ERR_OUT_OF_BOUNDS for a tensor of the wrong rank, dtype or size, or
 * shapes that do not agree.
 */
#include "orchestration_api.h"

#define FUNC_GEMM_TILE 0
#define FUNC_TILE_ADD 1

#define CHECK(call)              \
    do {                         \
        int32_t rc_ = (call);    \
        if (rc_ < 0) return rc_; \
    } while (0)

#define DEV(p) ((uint64_t)(uintptr_t)(p))

/* Non-zero when t is a non-empty 5-d f32 tensor [batch, rows, cols, tr, tc]
 * whose nbytes matches its shape. */
static int is_tiled(const OrchTensor *t, uint64_t batch, uint64_t rows, uint64_t cols, uint64_t tr, uint64_t tc) {
    const uint64_t want[5] = {batch, rows, cols, tr, tc};
    uint64_t bytes = sizeof(float);
    if (t->addr == 0 || t->ndim != 5 || t->dtype != ORCH_DTYPE_F32) return 0;
    for (int i = 0; i < 5; i++) {
        if (t->shape[i] != want[i] || want[i] == 0 || want[i] > UINT64_MAX / bytes) return 0;
        bytes *= want[i];
    }
    return t->nbytes == bytes;
}

/* Allocates a device buffer holding a copy of host tensor t. */
static int32_t upload(OrchestrationRuntime *rt, const OrchTensor *t, void **dev) {
    *dev = device_malloc(rt, t->nbytes);
    if (*dev == NULL) return ORCH_ERR_OUT_OF_MEMORY;
    return copy_to_device(rt, *dev, (const void *)(uintptr_t)t->addr, t->nbytes);
}

/* Device address of tile (b, r, c) of a tile-major matrix with `cols` tile
 * columns, `rows` tile rows and `tile_bytes` bytes a tile. */
static uint64_t tile_at(const void *dev, uint64_t b, uint64_t r, uint64_t c, uint64_t rows, uint64_t cols,
                        uint64_t tile_bytes) {
    return DEV(dev) + ((b * rows + r) * cols + c) * tile_bytes;
}

int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    if (args == NULL || args->tensors == NULL || args->num_tensors != 3) return ORCH_ERR_NULL_ARGUMENT;
    const OrchTensor *a = &args->tensors[0], *b = &args->tensors[1], *c = &args->tensors[2];
    uint64_t batch = a->shape[0], gm = a->shape[1], gk = a->shape[2], gn = b->shape[2];
    uint64_t tm = a->shape[3], tk = a->shape[4], tn = b->shape[4];
    if (!is_tiled(a, batch, gm, gk, tm, tk) || !is_tiled(b, batch, gk, gn, tk, tn) ||
        !is_tiled(c, batch, gm, gn, tm, tn))
        return ORCH_ERR_OUT_OF_BOUNDS;

    void *dev_a, *dev_b, *dev_c;
    CHECK(upload(rt, a, &dev_a));
    CHECK(upload(rt, b, &dev_b));
    CHECK(upload(rt, c, &dev_c));
    CHECK(record_tensor_pair(rt, (void *)(uintptr_t)c->addr, dev_c, c->nbytes));
    uint64_t a_bytes = tm * tk * sizeof(float), b_bytes = tk * tn * sizeof(float), c_bytes = tm * tn * sizeof(float);
    for (uint64_t bi = 0; bi < batch; bi++)
        for (uint64_t m = 0; m < gm; m++)
            for (uint64_t n = 0; n < gn; n++) {
                void *p = device_malloc(rt, c_bytes);
                if (p == NULL) return ORCH_ERR_OUT_OF_MEMORY;
                uint64_t c_tile = tile_at(dev_c, bi, m, n, gm, gn, c_bytes);
                int32_t prev_add = -1;
                for (uint64_t k = 0; k < gk; k++) {
                    uint64_t gemm_args[] = {tile_at(dev_a, bi, m, k, gm, gk, a_bytes),
                                            tile_at(dev_b, bi, k, n, gk, gn, b_bytes), DEV(p), tm, tk, tn};
                    uint64_t add_args[] = {c_tile, DEV(p), c_tile, tm, tn};
                    int32_t gemm = add_task(rt, gemm_args, 6, FUNC_GEMM_TILE, CORE_TYPE_AIC);
                    CHECK(gemm);
                    int32_t add = add_task(rt, add_args, 5, FUNC_TILE_ADD, CORE_TYPE_AIV);
                    CHECK(add);
                    if (prev_add >= 0) CHECK(add_successor(rt, prev_add, gemm));
                    CHECK(add_successor(rt, gemm, add));
                    prev_add = add;
                }
            }
    return 0;
}
