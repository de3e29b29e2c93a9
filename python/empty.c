/* Nothing: libcrest_eval.so is libcrest_eval.a whole (python/CMakeLists.txt). */
