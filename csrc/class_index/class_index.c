/* The class-index family's entry (lossk.h): the loss by its name in Python. */
#include "class_index.h"

lossk_status lossk_class_index_loss(const char *loss, lossk_class_args *args) {
    if (!loss || !args || args->size < sizeof(lossk_class_args)) return LOSSK_ERR_INVALID_ARGUMENT;
    args->bad_index = -1;
    if (strcmp(loss, "nll_loss") == 0) return lossk__nll_loss(args);
    if (strcmp(loss, "multi_margin_loss") == 0) return lossk__multi_margin_loss(args);
    return LOSSK_ERR_INVALID_ARGUMENT;
}
