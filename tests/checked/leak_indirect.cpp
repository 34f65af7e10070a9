// LEAK (direct + indirect): a linked list whose head is lost; the other nodes are reachable
// only from leaked nodes.
#include "opaque.h"
struct Node {
  Node* next;
  char payload[24];
};
static __attribute__((noinline)) void build() {
  Node* head = nullptr;
  for (int i = 0; i < 5; ++i) head = new Node{head, {}};
  head = static_cast<Node*>(opaque(head));
}
int main() {
  build();
  scrub_stack();
  return 0;
}
