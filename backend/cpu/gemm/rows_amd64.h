// Row handling shared by the micro-kernels (kernel_avx2_amd64.s,
// kernel_avx512_amd64.s), which keep a 6-row block of C in twelve
// registers, two a row.

// ROW_POINTERS sets R9-R13 to rows 1-5 of the block of op(A) whose row 0
// is at R8, rows R14 bytes apart, using AX. Rows at or past the block's row
// count (in register MR) repeat the last valid row, so that no load leaves
// op(A); their results are never stored.
#define ROW_POINTERS(MR) \
	MOVQ    R8, R9;           \
	LEAQ    (R9)(R14*1), AX;  \
	CMPQ    MR, $2;           \
	CMOVQGE AX, R9;           \
	MOVQ    R9, R10;          \
	LEAQ    (R10)(R14*1), AX; \
	CMPQ    MR, $3;           \
	CMOVQGE AX, R10;          \
	MOVQ    R10, R11;         \
	LEAQ    (R11)(R14*1), AX; \
	CMPQ    MR, $4;           \
	CMOVQGE AX, R11;          \
	MOVQ    R11, R12;         \
	LEAQ    (R12)(R14*1), AX; \
	CMPQ    MR, $5;           \
	CMOVQGE AX, R12;          \
	MOVQ    R12, R13;         \
	LEAQ    (R13)(R14*1), AX; \
	CMPQ    MR, $6;           \
	CMOVQGE AX, R13

// ROWS6 stores the block's rows with ROW(first, second register of the
// row), C's row at DI, rows SI bytes apart, CX rows in all (1-6), then
// jumps to done.
#define ROWS6(ROW, done, a0, a1, b0, b1, c0, c1, d0, d1, e0, e1, f0, f1) \
	ROW(a0, a1); \
	DECQ CX;     \
	JZ   done;   \
	ADDQ SI, DI; \
	ROW(b0, b1); \
	DECQ CX;     \
	JZ   done;   \
	ADDQ SI, DI; \
	ROW(c0, c1); \
	DECQ CX;     \
	JZ   done;   \
	ADDQ SI, DI; \
	ROW(d0, d1); \
	DECQ CX;     \
	JZ   done;   \
	ADDQ SI, DI; \
	ROW(e0, e1); \
	DECQ CX;     \
	JZ   done;   \
	ADDQ SI, DI; \
	ROW(f0, f1); \
	JMP  done
