// A destructive action asks first, saying what the guest loses: any form with class
// "lk-confirm" submits only when its data-confirm question is answered yes. Without scripts the
// button still works (the server never depends on this).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.classList && form.classList.contains("lk-confirm") && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
