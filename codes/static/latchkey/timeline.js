// Places the timeline's ticks, bars and now line from their data-left/data-width (percent of
// the span). Set through the CSSOM, which a strict Content-Security-Policy allows, where inline
// style attributes are refused.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".lk-placed").forEach(function (el) {
    if (el.dataset.left !== undefined) el.style.left = el.dataset.left + "%";
    if (el.dataset.width !== undefined) el.style.width = el.dataset.width + "%";
  });
});
