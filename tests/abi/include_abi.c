/* Compiled with -std=c99 -Wall -Wextra -Werror -pedantic by a test. */
#include <banger/capability.h>

static int size_is_sane(void) {
  banger_capability d;
  banger_host h;
  banger_message m;
  char text[16];
  m.text = text;
  m.size = sizeof text;
  banger_message_set(&m, "%d", 1);
  d.struct_size = sizeof d;
  h.struct_size = sizeof h;
  return BANGER_HAS_FIELD(&d, banger_capability, shutdown) &&
         BANGER_HAS_FIELD(&h, banger_host, verb_register);
}

int main(void) {
  return size_is_sane() ? 0 : 1;
}
