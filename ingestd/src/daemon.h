/*
 * daemon.h: the SMTP collector (ingestd without a subcommand).
 */
#ifndef SPAMLAB_DAEMON_H
#define SPAMLAB_DAEMON_H

int daemon_main(int argc, char **argv);

#endif /* SPAMLAB_DAEMON_H */
