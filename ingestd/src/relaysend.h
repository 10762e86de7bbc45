/*
 * relaysend.h: `ingestd relay-send`: deliver one message with the probe
 * relay client, outside the daemon (operator checks and tests).
 */
#ifndef SPAMLAB_RELAYSEND_H
#define SPAMLAB_RELAYSEND_H

int relaysend_main(int argc, char **argv);

#endif /* SPAMLAB_RELAYSEND_H */
