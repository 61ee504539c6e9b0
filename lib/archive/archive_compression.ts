/**
 * The compressions of a bottle archive, apart from the archive code so that
 * the command line can check `--compression` without loading it.
 *
 * @module
 */

/** How an archive's tar is compressed. */
export type Compression = "zstd" | "gzip" | "none";

/** The compressions an export may choose, the default first. */
export const COMPRESSIONS: readonly Compression[] = ["zstd", "gzip", "none"];
