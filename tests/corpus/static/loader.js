/* First-party loader: injects third-party trackers at run time, as many old CMS themes do. */
(function () {
  var s = document.createElement("script");
  s.async = true;
  s.src = "https://connect.facebook.net/en_US/fbevents.js";
  document.head.appendChild(s);
  var img = new Image(1, 1);
  img.src = "https://www.google-analytics.com/collect?v=1&tid=UA-1234567-1&cid=555&t=pageview";
  window.__loaderRan = true;
})();
