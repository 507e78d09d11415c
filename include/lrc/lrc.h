/* lrcompress: the whole public API. */
#ifndef LRC_LRC_H
#define LRC_LRC_H

#include "lrc/compress.h"
#include "lrc/core.h"
#include "lrc/data.h"
#include "lrc/eval.h"
#include "lrc/forward.h"
#include "lrc/method.h"
#include "lrc/model.h"
#include "lrc/parallel.h"

#endif
