/* The class-index family: its losses behind the family entry (class_index.c). */
#ifndef LOSSK_CLASS_INDEX_H
#define LOSSK_CLASS_INDEX_H

#include "internal.h"

lossk_status lossk__nll_loss(lossk_class_args *args);
lossk_status lossk__multi_margin_loss(lossk_class_args *args);

#endif /* LOSSK_CLASS_INDEX_H */
