/* The other half of lto_a.c. */
struct shared {
	int x;
	long y[3];
	struct shared *next;
};

int use_b(struct shared *s)
{
	return s->y[1] > 0 ? (int)s->y[2] : s->next != 0;
}

struct shared global_shared;
