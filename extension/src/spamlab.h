/*
 * spamlab.h: declarations shared by the spamlab extension's modules.
 */
#ifndef SPAMLAB_H
#define SPAMLAB_H

#endif /* SPAMLAB_H */
