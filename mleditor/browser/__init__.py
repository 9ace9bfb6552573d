"""Door 5, in the browser: the featurizer in JavaScript (`static/featurizer.js`), exactly FEATURES.md.

`static/unicode14.js` holds the Unicode facts it needs, as CPython 3.11 (Unicode 14.0) has them, so
that a browser whose ICU knows a newer Unicode still gives the reference's ids and dense values
(FEATURES.md §11); `tables` writes that file (`python -m mleditor.browser.tables`).
"""
