/* The agenda page's progressive enhancement: no framework, nothing needed to read the page.
   - quick links (Aujourd'hui, Ce week-end…) filter in place when this page holds the whole span,
     and otherwise lead to their pre-rendered page, as they do without this script;
   - search and filters by city, theme and collective;
   - today's heading is marked and what is over today is greyed, by the reader's clock;
   - the calendar address can be copied in one tap.
   Only textContent, attributes and the hidden property are used: no markup is built from text. */
(function () {
  "use strict";
  /* Loaded from <head>: the "js" class lets the stylesheet show the filters from the first
     paint (no layout shift); everything else waits for the document. */
  if (!("hidden" in document.documentElement) || !String.prototype.normalize || !window.Intl ||
      !document.querySelectorAll || !document.addEventListener) {
    return;
  }
  document.documentElement.className += " js";
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  function start() {
  var main = document.getElementById("contenu");
  if (!main) {
    return;
  }
  var tz = main.getAttribute("data-tz") || "Europe/Paris";
  /* A pre-rendered span page (quand/…) published before today: the home page shows the span
     as of the reader's day. */
  var pageSpan = (main.getAttribute("data-span") || "").split("/");
  if (pageSpan.length === 3) {
    var current = spanDays(pageSpan[0], isoDay(new Date()));
    var home = document.querySelector("nav.when a[data-span='tout']");
    if (current && home && (current[0] !== pageSpan[1] || current[1] !== pageSpan[2])) {
      location.replace(home.href + "#" + pageSpan[0]);
      return;
    }
  }
  var until = main.getAttribute("data-until");
  var events = Array.prototype.slice.call(document.querySelectorAll("article.event"));
  var days = Array.prototype.slice.call(document.querySelectorAll("section.day"));
  var form = document.getElementById("filtres");
  var result = document.getElementById("filtres-resultat");
  var quick = Array.prototype.slice.call(document.querySelectorAll("nav.when a[data-span]"));
  var span = null;

  function isoDay(moment) {
    var parts = {};
    new Intl.DateTimeFormat("en-CA", {
      timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit"
    }).formatToParts(moment).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day;
  }
  function noon(iso) { return new Date(iso + "T12:00:00Z"); }
  function addDays(iso, n) {
    var d = noon(iso);
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  /* Same spans as aggregator/publish/views.py: weeks start on Monday. */
  function spanDays(key, today) {
    var sunday = addDays(today, 6 - (noon(today).getUTCDay() + 6) % 7);
    if (key === "aujourdhui") { return [today, today]; }
    if (key === "ce-week-end") {
      var saturday = addDays(sunday, -1);
      return [saturday > today ? saturday : today, sunday];
    }
    if (key === "cette-semaine") { return [today, sunday]; }
    if (key === "ce-mois-ci") {
      var end = noon(today);
      end.setUTCMonth(end.getUTCMonth() + 1, 0);
      return [today, end.toISOString().slice(0, 10)];
    }
    return null;
  }
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  var texts = events.map(function (el) { return fold(el.textContent); });
  var ranges = events.map(function (el) {
    return (el.getAttribute("data-days") || "").split(" ").filter(Boolean).map(function (r) {
      return r.split("/");
    });
  });
  function value(name) {
    var field = form && form.elements[name];
    return field ? field.value : "";
  }
  function has(list, wanted) {
    return !wanted || (" " + list + " ").indexOf(" " + wanted + " ") >= 0;
  }
  function inSpan(i) {
    return !span || ranges[i].some(function (r) { return r[0] <= span[1] && r[1] >= span[0]; });
  }
  function apply() {
    var city = value("ville"), tag = value("theme"), collective = value("collectif");
    var words = fold(value("q")).split(/\s+/).filter(Boolean);
    var shown = 0;
    events.forEach(function (el, i) {
      var ok = inSpan(i) && has(el.getAttribute("data-city") || "", city) &&
        has(el.getAttribute("data-tags") || "", tag) &&
        has(el.getAttribute("data-collectives") || "", collective) &&
        words.every(function (w) { return texts[i].indexOf(w) >= 0; });
      el.hidden = !ok;
      if (ok) { shown += 1; }
    });
    days.forEach(function (day) {
      day.hidden = !day.querySelector("article.event:not([hidden])");
    });
    if (!result) { return; }
    if (!(city || tag || collective || words.length || span)) {
      result.textContent = "";
    } else if (shown === 0) {
      result.textContent = "Aucun événement ne correspond à ces critères sur cette page.";
    } else {
      result.textContent = shown + (shown > 1 ? " événements correspondent." : " événement correspond.");
    }
  }
  function markToday() {
    var now = new Date();
    var today = isoDay(now);
    days.forEach(function (day) {
      var isToday = day.getAttribute("data-day") === today;
      day.classList.toggle("today", isToday);
      var heading = day.querySelector("h2");
      var badge = heading && heading.querySelector(".badge");
      if (isToday && heading && !badge) {
        badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "aujourd’hui";
        heading.appendChild(document.createTextNode(" "));
        heading.appendChild(badge);
      } else if (!isToday && badge) {
        badge.parentNode.removeChild(badge);
      }
    });
    events.forEach(function (el) {
      var end = Date.parse(el.getAttribute("data-end") || "");
      var over = !isNaN(end) && end <= now.getTime() && !el.classList.contains("series");
      el.classList.toggle("past", over);
      var label = el.querySelector(".ended");
      var line = el.querySelector(".when");
      if (over && !label && line) {
        label = document.createElement("span");
        label.className = "ended";
        label.textContent = " · terminé";
        line.appendChild(label);
      } else if (!over && label) {
        label.parentNode.removeChild(label);
      }
    });
    return today;
  }
  function choose(key, push) {
    var today = markToday();
    span = key === "tout" ? null : spanDays(key, today);
    quick.forEach(function (a) {
      if (a.getAttribute("data-span") === key) {
        a.setAttribute("aria-current", "page");
      } else {
        a.removeAttribute("aria-current");
      }
    });
    if (push && window.history && history.replaceState) {
      history.replaceState(null, "", key === "tout" ? location.pathname : "#" + key);
    }
    apply();
  }
  /* In place only where this page holds every event up to the span's last day. */
  function local(key) {
    if (until === null) { return false; }
    var s = key === "tout" ? null : spanDays(key, isoDay(new Date()));
    return !s || s[1] <= until;
  }
  if (until !== null) {
    quick.forEach(function (a) {
      a.addEventListener("click", function (event) {
        var key = a.getAttribute("data-span");
        if (local(key)) {
          event.preventDefault();
          choose(key, true);
        }
      });
    });
  }
  var toggle = document.querySelector(".filters-toggle button");
  if (toggle && form) {
    toggle.addEventListener("click", function () {
      var open = !form.classList.contains("open");
      form.classList.toggle("open", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) { form.elements.q.focus(); }
    });
  }
  if (form) {
    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
    form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
  }
  var wanted = location.hash.slice(1);
  if (until !== null && spanDays(wanted, "2000-01-01") && local(wanted)) {
    choose(wanted, false);
  } else {
    markToday();
    apply();
  }
  window.setInterval(markToday, 60000);

  /* The subscription address: absolute even without agenda.base_url, and copied in one tap. */
  Array.prototype.slice.call(document.querySelectorAll("input[data-relative]")).forEach(function (input) {
    if (/^https?:$/.test(location.protocol)) {
      input.value = new URL(input.value, location.href).href;
    }
  });
  Array.prototype.slice.call(document.querySelectorAll("button[data-copy]")).forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById("copie-statut");
    if (!input) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      function done(ok) {
        if (status) { status.textContent = ok ? "Adresse copiée." : "Sélectionnez l’adresse et copiez-la."; }
      }
      input.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () {
          done(document.execCommand && document.execCommand("copy"));
        });
      } else {
        done(document.execCommand && document.execCommand("copy"));
      }
    });
  });
  }
})();
