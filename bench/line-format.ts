// The bench line: `<src:5> <seq:10> <sent-ns:19> xxx...\n`, fixed-width digits at fixed offsets
// so the writer patches them in place and the follower reads them without parsing JSON.
export const SRC_AT = 0;
export const SEQ_AT = 6;
export const NS_AT = 17;
/** Shortest line that holds the three fields, a space and the newline. */
export const MIN_SIZE = 38;
/** The source name of the bench's i-th pipe (the follower maps a gap's per-source breakdown back to i). */
export const benchSource = (i: number): string => `bench${i}.out`;
