# Turn a text file into a C string definition: crest_builtin_policy[].
file(READ ${IN} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE ${OUT} "/* Generated from ${IN}; do not edit. */\nconst char crest_builtin_policy[] = {${bytes}0x00};\n")
