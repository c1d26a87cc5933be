/*
 * orchestration_api.h -- the C ABI between the hostgraph runtime and an
 * orchestration plugin (ABI version 1).
 *
 * An orchestration plugin is a shared object (C, C++ or Rust) that builds a
 * static graph of kernel tasks. The runtime loads it, checks the exported
 * `hostgraph_orch_abi_version` symbol against its own version (a mismatch is
 * refused before anything is called), and then calls one entry point:
 *
 *     int entry(OrchestrationRuntime *rt, const OrchArgs *args);
 *
 * (the symbol name is "entry" unless the runtime is told otherwise; the type
 * is OrchestrationEntryFn). The entry returns 0 on success; any other value
 * fails the build. The runtime also latches the FIRST call through the table
 * that failed and fails the build because of it even if the entry returns 0,
 * so an ignored error can never produce a half-built graph.
 *
 * Contract:
 *  - Every call that can fail returns a status: ORCH_OK (0) on success, or a
 *    negative OrchStatus. add_task returns the new task id (>= 0) or a
 *    negative OrchStatus; get_task_count returns the count (>= 0) or a
 *    negative OrchStatus; device_malloc returns NULL on failure (the runtime
 *    latches the reason). print_runtime cannot fail.
 *  - print_runtime writes nothing to stdout: it hands a one-line summary of
 *    the graph so far (tasks by core type, edges, tensor pairs, device
 *    allocations) to the host's log, as a record of level info with target
 *    "hostgraph::print_runtime" (Rust's `log` crate). The host decides
 *    whether and where it appears: in the hostgraph examples, with
 *    RUST_LOG=info (or RUST_LOG=hostgraph::print_runtime=info); in a host
 *    without a logger, nowhere.
 *  - Task ids are dense, starting at 0, in the order add_task succeeded.
 *    add_successor(rt, a, b) makes task b wait for task a.
 *  - A task takes at most ORCH_MAX_TASK_ARGS 64-bit argument words; more is
 *    refused with ORCH_ERR_TOO_MANY_ARGS.
 *  - Task ids >= ORCH_RESERVED_TASK_ID are reserved for the dispatch
 *    protocol (idle / exit / no-task markers) and are never handed out;
 *    a graph that would need them is refused with ORCH_ERR_TOO_MANY_TASKS.
 *  - Device pointers returned by device_malloc are only valid for this
 *    build/run: never cache them across entry calls. copy_to_device copies
 *    synchronously (the host buffer may be reused as soon as it returns).
 *    record_tensor_pair asks the runtime to copy `nbytes` from the device
 *    buffer back to `host_ptr` when the run is finalized, so `host_ptr` must
 *    stay valid until then.
 *  - The pointers inside OrchArgs are only valid during the entry call.
 *  - The runtime handle `rt` is only valid during the entry call, and only
 *    on the thread that called the entry: a call through it after the entry
 *    returned, or from another thread, is refused (ORCH_ERR_NULL_ARGUMENT),
 *    and one refused while the entry runs fails the build.
 *  - A C++ plugin must not let an exception escape the entry (catch it and
 *    return non-zero): the runtime cannot catch it, and the process aborts.
 *  - Kernels: a task's kernel (registered by the host for its func_id) is
 *    called with exactly the argument words given to add_task -- the same
 *    `num_args` 64-bit words, in order, as `const uint64_t *args` -- once,
 *    on a core of the task's core type, after every predecessor's kernel
 *    has returned (and its writes are visible).
 *
 * Compiling a plugin (gcc; g++ for C++ works the same, and the header
 * compiles as C11 and C++):
 *
 *     gcc -std=c11 -O2 -fPIC -shared -I <hostgraph>/orch_abi/include \
 *         my_orch.c -o libmy_orch.so
 *
 * (`hostgraph_orch_abi::include_dir()` gives the include path from Rust),
 * then load it with `hostgraph::Plugin::load("./libmy_orch.so")`.
 *
 * The static inline wrappers below (add_task, add_successor, ...) carry the
 * same names as the table entries. Each checks the table first (non-null,
 * same ABI version, table at least as large as this header's) and returns
 * ORCH_ERR_ABI_MISMATCH (NULL for device_malloc) if the check fails.
 *
 * This header also DEFINES the weak, default-visibility symbol
 * `hostgraph_orch_abi_version`, so a plugin exports its ABI version just by
 * including it (in any number of translation units). Define
 * HOSTGRAPH_ORCH_NO_VERSION_EXPORT before including it to only declare it.
 */
#ifndef HOSTGRAPH_ORCHESTRATION_API_H
#define HOSTGRAPH_ORCHESTRATION_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HOSTGRAPH_ORCH_ABI_VERSION 1u
#define ORCH_MAX_TENSOR_DIMS 5
#define ORCH_MAX_TASK_ARGS 4096u          /* documented limit on argument words per task */
#define ORCH_RESERVED_TASK_ID 0x7FFFFFF0u /* task ids >= this are reserved (idle/exit/no-task markers) */

/* The kind of accelerator core a task runs on. */
typedef enum CoreType { CORE_TYPE_AIC = 0, CORE_TYPE_AIV = 1 } CoreType;

/* Status codes returned by the table entries (0 = success, < 0 = error). */
typedef enum OrchStatus {
  ORCH_OK = 0,
  ORCH_ERR_NULL_ARGUMENT = -1,
  ORCH_ERR_UNKNOWN_TASK = -2,
  ORCH_ERR_SELF_EDGE = -3,
  ORCH_ERR_TOO_MANY_ARGS = -4,
  ORCH_ERR_BAD_CORE_TYPE = -5,
  ORCH_ERR_TOO_MANY_TASKS = -6,
  ORCH_ERR_OUT_OF_MEMORY = -7,
  ORCH_ERR_UNKNOWN_POINTER = -8,
  ORCH_ERR_OUT_OF_BOUNDS = -9,
  ORCH_ERR_ZERO_SIZE = -10,
  ORCH_ERR_ABI_MISMATCH = -11,
  ORCH_ERR_IN_USE = -12
} OrchStatus;

/* Element types of an OrchTensor (stored in OrchTensor.dtype). */
typedef enum OrchDType {
  ORCH_DTYPE_F32 = 0,
  ORCH_DTYPE_F16 = 1,
  ORCH_DTYPE_BF16 = 2,
  ORCH_DTYPE_F64 = 3,
  ORCH_DTYPE_I8 = 4,
  ORCH_DTYPE_I16 = 5,
  ORCH_DTYPE_I32 = 6,
  ORCH_DTYPE_I64 = 7,
  ORCH_DTYPE_U8 = 8,
  ORCH_DTYPE_U16 = 9,
  ORCH_DTYPE_U32 = 10,
  ORCH_DTYPE_U64 = 11,
  ORCH_DTYPE_BOOL = 12
} OrchDType;

/* A host tensor handed to the entry point. 64 bytes. */
typedef struct OrchTensor {
  uint64_t addr;                        /* host address of the data */
  uint64_t shape[ORCH_MAX_TENSOR_DIMS]; /* only the first ndim are meaningful */
  uint32_t ndim;
  uint32_t dtype;                       /* OrchDType */
  uint64_t nbytes;
} OrchTensor;

/* The arguments of one entry call. 24 bytes on 64-bit targets. */
typedef struct OrchArgs {
  const OrchTensor *tensors;
  const uint64_t *scalars;
  uint32_t num_tensors;
  uint32_t num_scalars;
} OrchArgs;

typedef struct OrchestrationRuntime OrchestrationRuntime;

/* The function table the runtime fills; every entry is always non-NULL. */
typedef struct OrchestrationRuntimeOps {
  uint32_t abi_version; /* HOSTGRAPH_ORCH_ABI_VERSION of the runtime */
  uint32_t table_size;  /* sizeof(OrchestrationRuntimeOps) as the runtime built it */
  /* >= 0: new task id; < 0: OrchStatus */
  int32_t (*add_task)(OrchestrationRuntime *rt, const uint64_t *args, uint32_t num_args,
                      int32_t func_id, int32_t core_type);
  /* to_task waits for from_task */
  int32_t (*add_successor)(OrchestrationRuntime *rt, int32_t from_task, int32_t to_task);
  /* copy nbytes from dev_ptr back to host_ptr when the run is finalized */
  int32_t (*record_tensor_pair)(OrchestrationRuntime *rt, void *host_ptr, void *dev_ptr,
                                uint64_t nbytes);
  /* >= 0: number of tasks added so far; < 0: OrchStatus */
  int32_t (*get_task_count)(OrchestrationRuntime *rt);
  /* logs a summary of the graph so far (info, target "hostgraph::print_runtime") */
  void (*print_runtime)(OrchestrationRuntime *rt);
  /* NULL on failure (the runtime latches why) */
  void *(*device_malloc)(OrchestrationRuntime *rt, uint64_t nbytes);
  int32_t (*device_free)(OrchestrationRuntime *rt, void *dev_ptr);
  /* synchronous copy of nbytes from host_ptr to dev_ptr */
  int32_t (*copy_to_device)(OrchestrationRuntime *rt, void *dev_ptr, const void *host_ptr,
                            uint64_t nbytes);
} OrchestrationRuntimeOps;

struct OrchestrationRuntime {
  const OrchestrationRuntimeOps *ops;
  /* runtime-private data follows; opaque */
};

/* Signature of the plugin's entry point: 0 = success. */
typedef int (*OrchestrationEntryFn)(OrchestrationRuntime *rt, const OrchArgs *args);

/* OrchTensor is 64 bytes on every target (C99 has no _Static_assert). */
typedef char orch_abi_assert_tensor_is_64_bytes[(sizeof(OrchTensor) == 64) ? 1 : -1];

/* ---- the ABI-version export -------------------------------------------- */

#if defined(__GNUC__) || defined(__clang__)
#define HOSTGRAPH_ORCH_WEAK_EXPORT __attribute__((weak, visibility("default")))
#else
#error "orchestration_api.h needs GCC/Clang attributes (weak, visibility) to export the ABI version"
#endif

/* A namespace-scope const has internal linkage in C++ unless it is declared
 * extern, so the C++ definition spells `extern` out (C would warn about an
 * initialized extern, and its file-scope const is external anyway). */
#ifdef __cplusplus
#define HOSTGRAPH_ORCH_CONST_DEF extern const
#else
#define HOSTGRAPH_ORCH_CONST_DEF const
#endif

HOSTGRAPH_ORCH_WEAK_EXPORT extern const uint32_t hostgraph_orch_abi_version;
#ifndef HOSTGRAPH_ORCH_NO_VERSION_EXPORT
HOSTGRAPH_ORCH_WEAK_EXPORT HOSTGRAPH_ORCH_CONST_DEF uint32_t hostgraph_orch_abi_version =
    HOSTGRAPH_ORCH_ABI_VERSION;
#endif

/* ---- checked wrappers ---------------------------------------------------- */

/* Non-zero when rt carries a table this header can call through. */
static inline int orch_abi_ok(const OrchestrationRuntime *rt) {
  return rt != NULL && rt->ops != NULL && rt->ops->abi_version == HOSTGRAPH_ORCH_ABI_VERSION &&
         (size_t)rt->ops->table_size >= sizeof(OrchestrationRuntimeOps);
}

/* Adds a task; returns its id (>= 0) or a negative OrchStatus. */
static inline int32_t add_task(OrchestrationRuntime *rt, const uint64_t *args, uint32_t num_args,
                               int32_t func_id, CoreType core_type) {
  if (!orch_abi_ok(rt)) return (int32_t)ORCH_ERR_ABI_MISMATCH;
  return rt->ops->add_task(rt, args, num_args, func_id, (int32_t)core_type);
}

/* Makes to_task wait for from_task; returns an OrchStatus. */
static inline int32_t add_successor(OrchestrationRuntime *rt, int32_t from_task, int32_t to_task) {
  if (!orch_abi_ok(rt)) return (int32_t)ORCH_ERR_ABI_MISMATCH;
  return rt->ops->add_successor(rt, from_task, to_task);
}

/* Copies nbytes of dev_ptr back to host_ptr at finalize; returns an OrchStatus. */
static inline int32_t record_tensor_pair(OrchestrationRuntime *rt, void *host_ptr, void *dev_ptr,
                                         uint64_t nbytes) {
  if (!orch_abi_ok(rt)) return (int32_t)ORCH_ERR_ABI_MISMATCH;
  return rt->ops->record_tensor_pair(rt, host_ptr, dev_ptr, nbytes);
}

/* Number of tasks added so far, or a negative OrchStatus. */
static inline int32_t get_task_count(OrchestrationRuntime *rt) {
  if (!orch_abi_ok(rt)) return (int32_t)ORCH_ERR_ABI_MISMATCH;
  return rt->ops->get_task_count(rt);
}

/* Logs a one-line summary of the graph built so far through the host's log
 * (level info, target "hostgraph::print_runtime"; not to stdout); does
 * nothing on an ABI mismatch. */
static inline void print_runtime(OrchestrationRuntime *rt) {
  if (!orch_abi_ok(rt)) return;
  rt->ops->print_runtime(rt);
}

/* Allocates device memory; NULL on failure (including an ABI mismatch). */
static inline void *device_malloc(OrchestrationRuntime *rt, uint64_t nbytes) {
  if (!orch_abi_ok(rt)) return NULL;
  return rt->ops->device_malloc(rt, nbytes);
}

/* Frees device memory from device_malloc; returns an OrchStatus. Freeing NULL
 * does nothing (returns ORCH_OK), as free(NULL) does. */
static inline int32_t device_free(OrchestrationRuntime *rt, void *dev_ptr) {
  if (!orch_abi_ok(rt)) return (int32_t)ORCH_ERR_ABI_MISMATCH;
  return rt->ops->device_free(rt, dev_ptr);
}

/* Copies nbytes from host_ptr to dev_ptr now; returns an OrchStatus. */
static inline int32_t copy_to_device(OrchestrationRuntime *rt, void *dev_ptr, const void *host_ptr,
                                     uint64_t nbytes) {
  if (!orch_abi_ok(rt)) return (int32_t)ORCH_ERR_ABI_MISMATCH;
  return rt->ops->copy_to_device(rt, dev_ptr, host_ptr, nbytes);
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HOSTGRAPH_ORCHESTRATION_API_H */
