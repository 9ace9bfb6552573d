"""Door 5, in the browser: the featurizer, the pipeline and the model run in the page; the text never leaves it.

`static/featurizer.js` is FEATURES.md exactly; `static/unicode14.js` holds the Unicode facts it needs,
as CPython 3.11 (Unicode 14.0) has them, so that a browser whose ICU knows a newer Unicode still
gives the reference's ids and dense values (FEATURES.md §11); `tables` writes that file
(`python -m mleditor.browser.tables`). `static/pipeline.js` is core/pipeline.py's steps (the same
limits, messages and recommendations), run on onnxruntime-web; `static/editor.js` is the page.

`site` assembles the editor as a static site (page, scripts, service worker, web app manifest,
onnxruntime-web's wasm from `npm ci --prefix mleditor/browser`, the int8 bundle in `model/` and the
shipped fp32 model); `export` writes it to a folder (`mleditor browser export DIR`), and
`mleditor serve` serves the same files under `/editor/`.
"""
