/* Built without orchestration_api.h: no ABI version symbol. */
int entry(void *rt, const void *args) {
    (void)rt;
    (void)args;
    return 0;
}
