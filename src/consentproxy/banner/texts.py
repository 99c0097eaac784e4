"""Every string the banner and the placeholders show, in English and French.

Operators override any of them per language in the config (`banner.texts`); a language
the config lists that has no built-in texts must supply them all. `{service}` and
`{category}` are filled in by the page's script.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your privacy choices",
        "body": "We and our partners use cookies to measure our audience and to show "
                "videos and social content. Accept or refuse them, or choose by category. "
                "You can change your mind at any time with “Manage cookies”.",
        "privacy": "Privacy policy",
        "accept-all": "Accept all",
        "reject-all": "Reject all",
        "customize": "Customise",
        "save": "Save my choices",
        "close": "Close: refuse all but strictly necessary cookies",
        "close-decided": "Close",
        "manage": "Manage cookies",
        "categories": "Cookie categories",
        "always-on": "Always on",
        "services": "Services",
        "vendor": "Provider",
        "cookies": "Cookies",
        "retention": "Kept for",
        "blocked": "{service} is blocked because you have not accepted “{category}” cookies.",
        "load-once": "Load this once",
        "always-allow": "Always allow {service}",
        "error": "Your choice could not be saved. Please try again.",
        "gpc": "Your browser sent a Global Privacy Control signal. We honour it: {categories} "
               "stay off.",
        "reask": "Our cookie policy has changed since your last choice: please choose again.",
    },
    "fr": {
        "title": "Vos choix en matière de cookies",
        "body": "Nous et nos partenaires utilisons des cookies pour mesurer l'audience et "
                "afficher des vidéos et contenus sociaux. Acceptez-les, refusez-les ou "
                "choisissez par catégorie. Vous pouvez changer d'avis à tout moment avec "
                "« Gérer les cookies ».",
        "privacy": "Politique de confidentialité",
        "accept-all": "Tout accepter",
        "reject-all": "Tout refuser",
        "customize": "Personnaliser",
        "save": "Enregistrer mes choix",
        "close": "Fermer : refuser tout sauf les cookies strictement nécessaires",
        "close-decided": "Fermer",
        "manage": "Gérer les cookies",
        "categories": "Catégories de cookies",
        "always-on": "Toujours actifs",
        "services": "Services",
        "vendor": "Fournisseur",
        "cookies": "Cookies",
        "retention": "Conservés",
        "blocked": "{service} est bloqué car vous n'avez pas accepté les cookies "
                   "« {category} ».",
        "load-once": "Charger cette fois",
        "always-allow": "Toujours autoriser {service}",
        "error": "Votre choix n'a pas pu être enregistré. Veuillez réessayer.",
        "gpc": "Votre navigateur a envoyé un signal Global Privacy Control. Nous le respectons : "
               "{categories} restent désactivés.",
        "reask": "Notre politique de cookies a changé depuis votre dernier choix : merci de "
                 "choisir à nouveau.",
    },
}
TEXT_KEYS = frozenset(TEXTS["en"])
