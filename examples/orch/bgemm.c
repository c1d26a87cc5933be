/*
 * bgemm orchestration: C += A·B in T×T tiles.
 *
 * Args: tensors A (f32, M×K), B (f32, K×N), C (f32, M×N), all row-major;
 * scalar 0: the tile size T, which must divide M, K and N. C is uploaded,
 * accumulated into and recorded for copy-back.
 *
 * Per output tile (i, j) one partial-product buffer P_ij (f32, T×T) is
 * allocated and reused by the tile's K steps k = 0 .. K/T-1:
 *   gemm_k (AIC, func 0: [a_ik, b_kj, p_ij, T, K, N]): P_ij = A_ik·B_kj
 *   add_k  (AIV, func 1: [p_ij, c_ij, T, N]):          C_ij += P_ij
 * chained gemm_0 -> add_0 -> gemm_1 -> add_1 -> ...: add_k reads P_ij after
 * gemm_k wrote it, and gemm_{k+1} overwrites it only after add_k read it.
 * Tiles are addressed in place: a_ik is the address of A's element
 * (i·T, k·T), and so on.
 *
 * Returns ORCH_ERR_NULL_ARGUMENT for a wrong tensor or scalar count and
 * ORCH_ERR_OUT_OF_BOUNDS for a tensor of the wrong rank, dtype or shape, or
 * a tile size that does not divide them.
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

/* Non-zero when t is a non-empty rows×cols f32 matrix whose sides the tile divides. */
static int is_tiled_matrix(const OrchTensor *t, uint64_t rows, uint64_t cols, uint64_t tile) {
    return t->addr != 0 && t->ndim == 2 && t->dtype == ORCH_DTYPE_F32 && t->shape[0] == rows &&
           t->shape[1] == cols && rows > 0 && cols > 0 && cols <= UINT64_MAX / sizeof(float) / rows &&
           t->nbytes == rows * cols * sizeof(float) && rows % tile == 0 && cols % tile == 0;
}

/* Allocates a device buffer holding a copy of host tensor t. */
static int32_t upload(OrchestrationRuntime *rt, const OrchTensor *t, void **dev) {
    *dev = device_malloc(rt, t->nbytes);
    if (*dev == NULL) return ORCH_ERR_OUT_OF_MEMORY;
    return copy_to_device(rt, *dev, (const void *)(uintptr_t)t->addr, t->nbytes);
}

/* Device address of element (row, col) of a row-major f32 matrix with ld columns. */
static uint64_t at(const void *dev, uint64_t row, uint64_t col, uint64_t ld) {
    return DEV(dev) + (row * ld + col) * sizeof(float);
}

/* Adds output tile (ti, tj)'s chain of K/T gemm -> add steps over its own P buffer. */
static int32_t add_tile_chain(OrchestrationRuntime *rt, const void *a, const void *b, const void *c,
                              uint64_t k_dim, uint64_t n_dim, uint64_t t, uint64_t ti, uint64_t tj) {
    void *p = device_malloc(rt, t * t * sizeof(float));
    if (p == NULL) return ORCH_ERR_OUT_OF_MEMORY;
    int32_t prev_add = -1;
    for (uint64_t tk = 0; tk < k_dim / t; tk++) {
        uint64_t gemm_args[] = {at(a, ti * t, tk * t, k_dim), at(b, tk * t, tj * t, n_dim), DEV(p), t, k_dim, n_dim};
        uint64_t add_args[] = {DEV(p), at(c, ti * t, tj * t, n_dim), t, n_dim};
        int32_t gemm = add_task(rt, gemm_args, 6, FUNC_GEMM_TILE, CORE_TYPE_AIC);
        CHECK(gemm);
        int32_t add = add_task(rt, add_args, 4, FUNC_TILE_ADD, CORE_TYPE_AIV);
        CHECK(add);
        if (prev_add >= 0) CHECK(add_successor(rt, prev_add, gemm));
        CHECK(add_successor(rt, gemm, add));
        prev_add = add;
    }
    return ORCH_OK;
}

int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    if (args == NULL || args->tensors == NULL || args->scalars == NULL || args->num_tensors != 3 ||
        args->num_scalars != 1)
        return ORCH_ERR_NULL_ARGUMENT;
    const OrchTensor *a = &args->tensors[0], *b = &args->tensors[1], *c = &args->tensors[2];
    uint64_t t = args->scalars[0], m = a->shape[0], k = a->shape[1], n = b->shape[1];
    if (t == 0 || !is_tiled_matrix(a, m, k, t) || !is_tiled_matrix(b, k, n, t) || !is_tiled_matrix(c, m, n, t))
        return ORCH_ERR_OUT_OF_BOUNDS;

    void *dev_a, *dev_b, *dev_c;
    CHECK(upload(rt, a, &dev_a));
    CHECK(upload(rt, b, &dev_b));
    CHECK(upload(rt, c, &dev_c));
    CHECK(record_tensor_pair(rt, (void *)(uintptr_t)c->addr, dev_c, c->nbytes));
    for (uint64_t ti = 0; ti < m / t; ti++)
        for (uint64_t tj = 0; tj < n / t; tj++) CHECK(add_tile_chain(rt, dev_a, dev_b, dev_c, k, n, t, ti, tj));
    return 0;
}
