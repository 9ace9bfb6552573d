// Progressive enhancement: say that scoring is under way; the form works the same without it.
// A file, not an inline script, so the pages' Content-Security-Policy can say script-src 'self'.
document.getElementById("question-form").addEventListener("submit", function (event) {
  var button = event.target.querySelector("button[type=submit]");
  button.disabled = true;
  button.textContent = "Scoring…";
});
