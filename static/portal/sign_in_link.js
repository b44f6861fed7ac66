// A sign-in link carries its token in the fragment (after "#"), which browsers never send
// to a server. Move it into the form, which the visitor posts with the button, and take it
// out of the address bar and the history.
(function () {
  var token = window.location.hash.slice(1);
  var field = document.getElementById("sign-in-token");
  if (!token || !field) {
    return;
  }
  field.value = decodeURIComponent(token);
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  var paste = document.getElementById("sign-in-paste");
  if (paste) {
    paste.hidden = true;
  }
})();
