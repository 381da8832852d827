/* Filters and text search for the agenda page: progressive enhancement, no framework.
   Without this script the page is the full list; with it, the hidden form appears.
   Only textContent and the hidden property are used: no markup is ever built from text. */
(function () {
  "use strict";
  var form = document.getElementById("filtres");
  if (!form || !("hidden" in form) || !String.prototype.normalize) {
    return;
  }
  var events = Array.prototype.slice.call(document.querySelectorAll("article.event"));
  var days = Array.prototype.slice.call(document.querySelectorAll("section.day"));
  var result = document.getElementById("filtres-resultat");
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  var texts = events.map(function (el) { return fold(el.textContent); });
  function value(name) {
    var field = form.elements[name];
    return field ? field.value : "";
  }
  function has(list, wanted) {
    return !wanted || (" " + list + " ").indexOf(" " + wanted + " ") >= 0;
  }
  function apply() {
    var city = value("ville"), tag = value("theme"), collective = value("collectif");
    var words = fold(value("q")).split(/\s+/).filter(Boolean);
    var shown = 0;
    events.forEach(function (el, i) {
      var ok = has(el.getAttribute("data-city") || "", city) &&
        has(el.getAttribute("data-tags") || "", tag) &&
        has(el.getAttribute("data-collectives") || "", collective) &&
        words.every(function (w) { return texts[i].indexOf(w) >= 0; });
      el.hidden = !ok;
      if (ok) { shown += 1; }
    });
    days.forEach(function (day) {
      day.hidden = !day.querySelector("article.event:not([hidden])");
    });
    var filtered = city || tag || collective || words.length;
    if (!filtered) {
      result.textContent = "";
    } else if (shown === 0) {
      result.textContent = "Aucun événement ne correspond à ces critères sur cette page.";
    } else {
      result.textContent = shown + (shown > 1 ? " événements correspondent." : " événement correspond.");
    }
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
  form.hidden = false;
  apply();
})();
