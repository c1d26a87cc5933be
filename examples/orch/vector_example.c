/*
 * vector_example orchestration: f = (a + b + 1) * (a + b + 2).
 *
 * Args: tensors a, b, f (f32, same length). Builds four AIV tasks:
 *   t0: c = a + b      (func 0)
 *   t1: d = c + 1      (func 1)
 *   t2: e = c + 2      (func 1)
 *   t3: f = d * e      (func 2)
 * with edges t0->t1, t0->t2, t1->t3, t2->t3, and records f for copy-back.
 */
#include <string.h>

#include "orchestration_api.h"

#define FUNC_ADD 0
#define FUNC_ADD_SCALAR 1
#define FUNC_MUL 2

static uint64_t f32_bits(float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

#define CHECK(call)                 \
    do {                            \
        int32_t rc_ = (call);       \
        if (rc_ < 0) return rc_;    \
    } while (0)

int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    if (args == NULL || args->num_tensors != 3) return ORCH_ERR_NULL_ARGUMENT;
    const OrchTensor *a = &args->tensors[0], *b = &args->tensors[1], *f = &args->tensors[2];
    uint64_t bytes = a->nbytes, n = bytes / sizeof(float);
    if (b->nbytes != bytes || f->nbytes != bytes || bytes == 0) return ORCH_ERR_OUT_OF_BOUNDS;

    void *dev_a = device_malloc(rt, bytes), *dev_b = device_malloc(rt, bytes), *dev_f = device_malloc(rt, bytes);
    void *dev_c = device_malloc(rt, bytes), *dev_d = device_malloc(rt, bytes), *dev_e = device_malloc(rt, bytes);
    if (!dev_a || !dev_b || !dev_c || !dev_d || !dev_e || !dev_f) return ORCH_ERR_OUT_OF_MEMORY;
    CHECK(copy_to_device(rt, dev_a, (const void *)(uintptr_t)a->addr, bytes));
    CHECK(copy_to_device(rt, dev_b, (const void *)(uintptr_t)b->addr, bytes));
    CHECK(record_tensor_pair(rt, (void *)(uintptr_t)f->addr, dev_f, bytes));

    uint64_t t0_args[] = {(uint64_t)(uintptr_t)dev_a, (uint64_t)(uintptr_t)dev_b, (uint64_t)(uintptr_t)dev_c, n};
    uint64_t t1_args[] = {(uint64_t)(uintptr_t)dev_c, f32_bits(1.0f), (uint64_t)(uintptr_t)dev_d, n};
    uint64_t t2_args[] = {(uint64_t)(uintptr_t)dev_c, f32_bits(2.0f), (uint64_t)(uintptr_t)dev_e, n};
    uint64_t t3_args[] = {(uint64_t)(uintptr_t)dev_d, (uint64_t)(uintptr_t)dev_e, (uint64_t)(uintptr_t)dev_f, n};
    int32_t t0 = add_task(rt, t0_args, 4, FUNC_ADD, CORE_TYPE_AIV);
    int32_t t1 = add_task(rt, t1_args, 4, FUNC_ADD_SCALAR, CORE_TYPE_AIV);
    int32_t t2 = add_task(rt, t2_args, 4, FUNC_ADD_SCALAR, CORE_TYPE_AIV);
    int32_t t3 = add_task(rt, t3_args, 4, FUNC_MUL, CORE_TYPE_AIV);
    CHECK(t0);
    CHECK(t1);
    CHECK(t2);
    CHECK(t3);
    CHECK(add_successor(rt, t0, t1));
    CHECK(add_successor(rt, t0, t2));
    CHECK(add_successor(rt, t1, t3));
    CHECK(add_successor(rt, t2, t3));
    return 0;
}
