/* A small BPF program whose BTF (emitted by clang -g) exercises most BTF kinds.
 * scripts/example compiles it and runs btfbuild on the result. */
typedef unsigned int u32;
typedef unsigned long long u64;

enum state { STATE_IDLE, STATE_BUSY = 5, STATE_DONE = -1 };
enum big { BIG_ONE = 0x100000000ULL };

struct point {
	int x, y;
};

struct packet {
	u32 len;
	unsigned int flags : 3;
	unsigned int proto : 5;
	union {
		struct point at;
		u64 raw;
	};
	char payload[16];
	const volatile struct point *origin;
	int (*handler)(struct packet *, void *);
	enum state state;
	enum big big;
	float weight;
};

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __user __attribute__((btf_type_tag("user")))

struct packet last_packet __attribute__((section(".data")));
int counter __attribute__((section(".bss")));

__attribute__((noinline)) int handle(struct packet *p __tag("arg"), int __user *u) __tag("fn")
{
	counter += p->len + p->flags;
	return p->state == STATE_BUSY ? p->at.x : (int)(long)u;
}

__attribute__((section("socket"), used)) int prog(void *ctx)
{
	last_packet.len = 1;
	return handle(&last_packet, 0);
}

char _license[] __attribute__((section("license"), used)) = "GPL";
