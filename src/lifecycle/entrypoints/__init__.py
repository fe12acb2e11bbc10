"""The entry points: the ``lifecycle`` command line (:mod:`.cli`, one module per
command group), the rendering of its tables (:mod:`.tables`), the projection worker
(:mod:`.follow`) and the HTTP service (:mod:`.http`). Nothing else imports them."""
