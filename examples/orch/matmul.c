/*
 * matmul orchestration: F = exp(sqrt(ln(A))·W1 + sqrt(ln(A))·W2).
 *
 * Args (the reference runtime's conventions): tensors A (f16), W1 and W2
 * (f16), F (f32), each a flat tensor of SIZE = n·n elements holding a
 * row-major n×n matrix. Builds a diamond; every task's last word is SIZE:
 *   t0 (AIV): B = sqrt(ln(A))   B f16   (func 0: [a, b, SIZE])
 *   t1 (AIC): C = B·W1          C f32   (func 1: [b, w1, c, SIZE])
 *   t2 (AIC): D = B·W2          D f32   (func 1: [b, w2, d, SIZE])
 *   t3 (AIV): F = exp(C + D)            (func 2: [c, d, f, SIZE])
 * with edges t0->t1, t0->t2, t1->t3, t2->t3, and records F for copy-back.
 *
 * Returns ORCH_ERR_NULL_ARGUMENT for a wrong tensor count and
 * ORCH_ERR_OUT_OF_BOUNDS for a tensor of the wrong rank, dtype or size, or
 * a SIZE that is not a square.
 */
#include "orchestration_api.h"

#define FUNC_LOG_SQRT 0
#define FUNC_MATMUL 1
#define FUNC_ADD_EXP 2

#define CHECK(call)              \
    do {                         \
        int32_t rc_ = (call);    \
        if (rc_ < 0) return rc_; \
    } while (0)

#define DEV(p) ((uint64_t)(uintptr_t)(p))

/* Non-zero when t is a non-empty flat tensor of n elements of dtype (elem bytes each). */
static int is_flat(const OrchTensor *t, uint32_t dtype, uint64_t elem, uint64_t n) {
    return t->addr != 0 && t->ndim == 1 && t->dtype == dtype && t->shape[0] == n && n > 0 &&
           n <= UINT64_MAX / elem && t->nbytes == n * elem;
}

/* Non-zero when n is the square of an integer. */
static int is_square(uint64_t n) {
    uint64_t side = 0;
    while ((side + 1) <= n / (side + 1)) side++;
    return side * side == n;
}

/* Allocates a device buffer holding a copy of host tensor t. */
static int32_t upload(OrchestrationRuntime *rt, const OrchTensor *t, void **dev) {
    *dev = device_malloc(rt, t->nbytes);
    if (*dev == NULL) return ORCH_ERR_OUT_OF_MEMORY;
    return copy_to_device(rt, *dev, (const void *)(uintptr_t)t->addr, t->nbytes);
}

int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    if (args == NULL || args->tensors == NULL || args->num_tensors != 4) return ORCH_ERR_NULL_ARGUMENT;
    const OrchTensor *a = &args->tensors[0], *w1 = &args->tensors[1], *w2 = &args->tensors[2],
                     *f = &args->tensors[3];
    uint64_t size = a->shape[0];
    if (!is_flat(a, ORCH_DTYPE_F16, 2, size) || !is_flat(w1, ORCH_DTYPE_F16, 2, size) ||
        !is_flat(w2, ORCH_DTYPE_F16, 2, size) || !is_flat(f, ORCH_DTYPE_F32, 4, size) || !is_square(size))
        return ORCH_ERR_OUT_OF_BOUNDS;

    void *dev_a, *dev_w1, *dev_w2;
    CHECK(upload(rt, a, &dev_a));
    CHECK(upload(rt, w1, &dev_w1));
    CHECK(upload(rt, w2, &dev_w2));
    void *dev_b = device_malloc(rt, size * 2), *dev_c = device_malloc(rt, size * 4),
         *dev_d = device_malloc(rt, size * 4), *dev_f = device_malloc(rt, f->nbytes);
    if (!dev_b || !dev_c || !dev_d || !dev_f) return ORCH_ERR_OUT_OF_MEMORY;
    CHECK(record_tensor_pair(rt, (void *)(uintptr_t)f->addr, dev_f, f->nbytes));

    uint64_t t0_args[] = {DEV(dev_a), DEV(dev_b), size};
    uint64_t t1_args[] = {DEV(dev_b), DEV(dev_w1), DEV(dev_c), size};
    uint64_t t2_args[] = {DEV(dev_b), DEV(dev_w2), DEV(dev_d), size};
    uint64_t t3_args[] = {DEV(dev_c), DEV(dev_d), DEV(dev_f), size};
    int32_t t0 = add_task(rt, t0_args, 3, FUNC_LOG_SQRT, CORE_TYPE_AIV);
    CHECK(t0);
    int32_t t1 = add_task(rt, t1_args, 4, FUNC_MATMUL, CORE_TYPE_AIC);
    CHECK(t1);
    int32_t t2 = add_task(rt, t2_args, 4, FUNC_MATMUL, CORE_TYPE_AIC);
    CHECK(t2);
    int32_t t3 = add_task(rt, t3_args, 4, FUNC_ADD_EXP, CORE_TYPE_AIV);
    CHECK(t3);
    CHECK(add_successor(rt, t0, t1));
    CHECK(add_successor(rt, t0, t2));
    CHECK(add_successor(rt, t1, t3));
    CHECK(add_successor(rt, t2, t3));
    return 0;
}
