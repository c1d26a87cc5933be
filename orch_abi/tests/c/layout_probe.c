/* Prints the layout of every struct and field in orchestration_api.h, the
 * values of its enums and macros, and how its checked wrappers behave on a
 * table they must refuse, as "name value" lines for tests/layout.rs. */
#include <stddef.h>
#include <stdio.h>

#include "orchestration_api.h"
#include "orchestration_api.h" /* twice: the include guard must hold */

/* Defined in second_tu.c, which includes the header too. */
const uint32_t *second_tu_version_addr(void);

#define ALIGNOF(T) offsetof(struct { char c; T t; }, t)
#define SIZE(T)                                                                        \
  printf("sizeof.%s %llu\nalignof.%s %llu\n", #T, (unsigned long long)sizeof(T), #T, \
         (unsigned long long)ALIGNOF(T))
#define FIELD(T, f)                                                                    \
  printf("offsetof.%s.%s %llu\nsizeof.%s.%s %llu\n", #T, #f,                         \
         (unsigned long long)offsetof(T, f), #T, #f, (unsigned long long)sizeof(((T *)0)->f))
#define VALUE(kind, v) printf("%s.%s %lld\n", kind, #v, (long long)(v))
#define WRAPPER(table, call, expr) printf("wrapper.%s.%s %lld\n", table, call, (long long)(expr))

static void probe_wrappers(const char *name, OrchestrationRuntime *rt) {
  uint64_t word = 0;
  WRAPPER(name, "add_task", add_task(rt, &word, 1, 0, CORE_TYPE_AIC));
  WRAPPER(name, "add_successor", add_successor(rt, 0, 1));
  WRAPPER(name, "record_tensor_pair", record_tensor_pair(rt, &word, &word, 8));
  WRAPPER(name, "get_task_count", get_task_count(rt));
  print_runtime(rt); /* must return without calling the (null) table entry */
  WRAPPER(name, "device_malloc_is_null", device_malloc(rt, 8) == NULL);
  WRAPPER(name, "device_free", device_free(rt, &word));
  WRAPPER(name, "copy_to_device", copy_to_device(rt, &word, &word, 8));
}

int main(void) {
  /* Tables whose function pointers are all NULL: the wrappers must refuse
   * them before calling anything. */
  OrchestrationRuntimeOps bad_version = {.abi_version = HOSTGRAPH_ORCH_ABI_VERSION + 1,
                                         .table_size = sizeof(OrchestrationRuntimeOps)};
  OrchestrationRuntimeOps small_table = {.abi_version = HOSTGRAPH_ORCH_ABI_VERSION,
                                         .table_size = sizeof(OrchestrationRuntimeOps) - 1};
  OrchestrationRuntimeOps good_table = {.abi_version = HOSTGRAPH_ORCH_ABI_VERSION,
                                        .table_size = sizeof(OrchestrationRuntimeOps)};
  OrchestrationRuntime rt_bad_version = {&bad_version};
  OrchestrationRuntime rt_small_table = {&small_table};
  OrchestrationRuntime rt_null_ops = {NULL};
  OrchestrationRuntime rt_good = {&good_table};

  SIZE(OrchTensor);
  FIELD(OrchTensor, addr);
  FIELD(OrchTensor, shape);
  FIELD(OrchTensor, ndim);
  FIELD(OrchTensor, dtype);
  FIELD(OrchTensor, nbytes);

  SIZE(OrchArgs);
  FIELD(OrchArgs, tensors);
  FIELD(OrchArgs, scalars);
  FIELD(OrchArgs, num_tensors);
  FIELD(OrchArgs, num_scalars);

  SIZE(OrchestrationRuntime);
  FIELD(OrchestrationRuntime, ops);

  SIZE(OrchestrationRuntimeOps);
  FIELD(OrchestrationRuntimeOps, abi_version);
  FIELD(OrchestrationRuntimeOps, table_size);
  FIELD(OrchestrationRuntimeOps, add_task);
  FIELD(OrchestrationRuntimeOps, add_successor);
  FIELD(OrchestrationRuntimeOps, record_tensor_pair);
  FIELD(OrchestrationRuntimeOps, get_task_count);
  FIELD(OrchestrationRuntimeOps, print_runtime);
  FIELD(OrchestrationRuntimeOps, device_malloc);
  FIELD(OrchestrationRuntimeOps, device_free);
  FIELD(OrchestrationRuntimeOps, copy_to_device);

  SIZE(OrchestrationEntryFn);
  SIZE(CoreType);
  SIZE(OrchStatus);
  SIZE(OrchDType);

  VALUE("macro", HOSTGRAPH_ORCH_ABI_VERSION);
  VALUE("macro", ORCH_MAX_TENSOR_DIMS);
  VALUE("macro", ORCH_MAX_TASK_ARGS);
  VALUE("macro", ORCH_RESERVED_TASK_ID);

  VALUE("enum", CORE_TYPE_AIC);
  VALUE("enum", CORE_TYPE_AIV);

  VALUE("enum", ORCH_OK);
  VALUE("enum", ORCH_ERR_NULL_ARGUMENT);
  VALUE("enum", ORCH_ERR_UNKNOWN_TASK);
  VALUE("enum", ORCH_ERR_SELF_EDGE);
  VALUE("enum", ORCH_ERR_TOO_MANY_ARGS);
  VALUE("enum", ORCH_ERR_BAD_CORE_TYPE);
  VALUE("enum", ORCH_ERR_TOO_MANY_TASKS);
  VALUE("enum", ORCH_ERR_OUT_OF_MEMORY);
  VALUE("enum", ORCH_ERR_UNKNOWN_POINTER);
  VALUE("enum", ORCH_ERR_OUT_OF_BOUNDS);
  VALUE("enum", ORCH_ERR_ZERO_SIZE);
  VALUE("enum", ORCH_ERR_ABI_MISMATCH);
  VALUE("enum", ORCH_ERR_IN_USE);

  VALUE("enum", ORCH_DTYPE_F32);
  VALUE("enum", ORCH_DTYPE_F16);
  VALUE("enum", ORCH_DTYPE_BF16);
  VALUE("enum", ORCH_DTYPE_F64);
  VALUE("enum", ORCH_DTYPE_I8);
  VALUE("enum", ORCH_DTYPE_I16);
  VALUE("enum", ORCH_DTYPE_I32);
  VALUE("enum", ORCH_DTYPE_I64);
  VALUE("enum", ORCH_DTYPE_U8);
  VALUE("enum", ORCH_DTYPE_U16);
  VALUE("enum", ORCH_DTYPE_U32);
  VALUE("enum", ORCH_DTYPE_U64);
  VALUE("enum", ORCH_DTYPE_BOOL);

  VALUE("symbol", hostgraph_orch_abi_version);
  printf("link.same_symbol %d\n", &hostgraph_orch_abi_version == second_tu_version_addr());

  probe_wrappers("bad_version", &rt_bad_version);
  probe_wrappers("small_table", &rt_small_table);
  probe_wrappers("null_ops", &rt_null_ops);
  probe_wrappers("null_rt", NULL);
  WRAPPER("good_table", "orch_abi_ok", orch_abi_ok(&rt_good));
  return 0;
}
