/* "crash-on-load": dies while being loaded (a constructor that raises
 * SIGSEGV). Only bangerctl's offline mode meets it: the child that loads it
 * dies, bangerctl reports the file and lists the others. */
#include <banger/capability.h>
#include <signal.h>

__attribute__((constructor)) static void crash_now(void) {
  raise(SIGSEGV);
}

BANGER_EXPORT const banger_capability* banger_capability_entry(void) {
  return NULL;
}
