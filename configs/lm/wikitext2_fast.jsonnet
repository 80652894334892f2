// configs/lm/fast.jsonnet on WikiText-2 (its default corpus; WIKITEXT2_DIR or LM_DATA_DIR moves it):
//   lmlab train configs/lm/wikitext2_fast.jsonnet -s runs/wt2_fast
import "fast.jsonnet"
