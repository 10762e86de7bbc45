/*
 * import.h: `ingestd import`: mbox, Maildir and .eml files into PostgreSQL.
 */
#ifndef SPAMLAB_IMPORT_H
#define SPAMLAB_IMPORT_H

/* argv[0] is "import". */
int import_main(int argc, char **argv);

#endif /* SPAMLAB_IMPORT_H */
