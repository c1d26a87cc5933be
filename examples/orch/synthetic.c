/*
 * synthetic orchestration: the synthetic graph shapes of the bench program
 * (examples/support/src/synthetic.rs), built through the C ABI from scalars
 * alone -- no tensors, no device memory, argument-free tasks.
 *
 * Scalars: 0 shape code, 1 requested task count n, 2 func_id (optional,
 * default 0). Shape codes (Shape::code in synthetic.rs):
 *   0 independent  n tasks, no edges
 *   1 chain        t(i) -> t(i+1)
 *   2 layered      LAYERS layers of width w = ceil(n / LAYERS); task j of a
 *                  layer -> tasks j and (j + 1) mod w of the next layer
 *   3 binary-tree  complete out-tree of the smallest depth d, 2^d - 1 >= n
 *                  (heap order: i -> 2i+1, 2i+2)
 *   4 wavefront    s x s grid, smallest s with s^2 >= n;
 *                  (i, j) -> (i+1, j), (i, j+1)
 * Task i runs on AIC when i % 3 == 0, else on AIV. Tasks are added first,
 * in id order, then the edges in the order synthetic.rs adds them, so both
 * builders produce the same graph (ids, core types and successor order).
 *
 * Every call's status is checked; the first failure is returned.
 */
#include "orchestration_api.h"

#define LAYERS 100u /* synthetic::LAYERS */

enum { SHAPE_INDEPENDENT, SHAPE_CHAIN, SHAPE_LAYERED, SHAPE_BINARY_TREE, SHAPE_WAVEFRONT };

#define CHECK(call)              \
    do {                         \
        int32_t rc_ = (call);    \
        if (rc_ < 0) return rc_; \
    } while (0)

/* Smallest depth d with 2^d - 1 >= n (the bit length of n). */
static uint64_t tree_depth(uint64_t n) {
    uint64_t d = 0;
    while (n != 0) {
        n >>= 1;
        d++;
    }
    return d;
}

/* Smallest side s with s * s >= n. */
static uint64_t grid_side(uint64_t n) {
    uint64_t s = 0;
    while (s * s < n) s++;
    return s;
}

static uint64_t task_count(uint64_t shape, uint64_t n) {
    switch (shape) {
        case SHAPE_BINARY_TREE: return (1ull << tree_depth(n)) - 1;
        case SHAPE_WAVEFRONT: {
            uint64_t s = grid_side(n);
            return s * s;
        }
        default: return n;
    }
}

/* Adds the edge base+from -> base+to. */
static int32_t edge(OrchestrationRuntime *rt, int32_t base, uint64_t from, uint64_t to) {
    return add_successor(rt, base + (int32_t)from, base + (int32_t)to);
}

int entry(OrchestrationRuntime *rt, const OrchArgs *args) {
    if (args == NULL || args->num_scalars < 2 || args->scalars == NULL) return ORCH_ERR_NULL_ARGUMENT;
    uint64_t shape = args->scalars[0], n = args->scalars[1];
    int32_t func_id = args->num_scalars > 2 ? (int32_t)args->scalars[2] : 0;
    if (shape > SHAPE_WAVEFRONT) return ORCH_ERR_OUT_OF_BOUNDS;
    /* Keeps 2^d and s^2 well inside 64 bits and the ids inside int32_t. */
    if (n >= ORCH_RESERVED_TASK_ID) return ORCH_ERR_TOO_MANY_TASKS;
    uint64_t tasks = task_count(shape, n);
    if (tasks >= ORCH_RESERVED_TASK_ID) return ORCH_ERR_TOO_MANY_TASKS;

    int32_t base = get_task_count(rt);
    CHECK(base);
    if ((uint64_t)base + tasks >= ORCH_RESERVED_TASK_ID) return ORCH_ERR_TOO_MANY_TASKS;
    for (uint64_t i = 0; i < tasks; i++) {
        int32_t id = add_task(rt, NULL, 0, func_id, i % 3 == 0 ? CORE_TYPE_AIC : CORE_TYPE_AIV);
        CHECK(id);
        if (id != base + (int32_t)i) return ORCH_ERR_UNKNOWN_TASK; /* ids must be dense */
    }

    switch (shape) {
        case SHAPE_INDEPENDENT: break;
        case SHAPE_CHAIN:
            for (uint64_t i = 1; i < tasks; i++) CHECK(edge(rt, base, i - 1, i));
            break;
        case SHAPE_LAYERED: {
            uint64_t w = (n + LAYERS - 1) / LAYERS;
            if (w == 0) w = 1;
            /* every task before the last layer (which may be short) */
            uint64_t last_layer = tasks == 0 ? 0 : (tasks - 1) / w * w;
            /* task j of a layer feeds tasks j and j + 1 (wrapping) of the next */
            for (uint64_t layer = 0; layer < last_layer; layer += w) {
                uint64_t next = layer + w;
                for (uint64_t j = 0; j < w; j++) {
                    uint64_t k = j + 1 == w ? 0 : j + 1;
                    if (next + j < tasks) CHECK(edge(rt, base, layer + j, next + j));
                    if (w > 1 && next + k < tasks) CHECK(edge(rt, base, layer + j, next + k));
                }
            }
            break;
        }
        case SHAPE_BINARY_TREE:
            for (uint64_t child = 1; child < tasks; child++) CHECK(edge(rt, base, (child - 1) / 2, child));
            break;
        case SHAPE_WAVEFRONT: {
            uint64_t s = grid_side(n);
            for (uint64_t i = 0; i < s; i++) {
                for (uint64_t j = 0; j < s; j++) {
                    uint64_t cell = i * s + j;
                    if (i + 1 < s) CHECK(edge(rt, base, cell, cell + s));
                    if (j + 1 < s) CHECK(edge(rt, base, cell, cell + 1));
                }
            }
            break;
        }
    }
    return 0;
}
