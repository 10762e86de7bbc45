/*
 * spamlab.h: declarations shared by the spamlab extension's modules.
 */
#ifndef SPAMLAB_H
#define SPAMLAB_H

/* geoip.c */
extern void geoip_define_settings(void);

#endif /* SPAMLAB_H */
