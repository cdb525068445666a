"""The code MLflow logs as the recommender model ("models from code": no pickled object).

``serving.log_recommender`` hands this file to ``mlflow.pyfunc.log_model``; loading the model runs
it, and the artefacts logged beside it (the model file, id maps, plays) are read by
``RecommenderModel.load_context``.
"""

import mlflow

from music_recommender.serving import RecommenderModel

mlflow.models.set_model(RecommenderModel())
