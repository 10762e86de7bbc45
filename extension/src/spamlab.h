/*
 * spamlab.h: declarations shared by the spamlab extension's modules.
 */
#ifndef SPAMLAB_H
#define SPAMLAB_H

/* whois.c */
void whois_define_gucs(void);

#endif /* SPAMLAB_H */
