"""The entry points: the ``lifecycle`` command line (:mod:`.cli`, one module per
command group), the rendering of its tables (:mod:`.tables`) and the projection worker
(:mod:`.follow`). Nothing else imports them."""
