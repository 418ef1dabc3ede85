/* A second compile unit that has an `int`, linked after array_no_int.c. */
struct with_int {
	int n;
	long vals[5];
};

struct with_int second_cu_var;
